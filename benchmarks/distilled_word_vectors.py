"""Word vectors distilled from a sentence transformer, for ``--vectors``: each word of the tasks'
training text is encoded alone, as a one-word text, and its sentence embedding (the transformer's
output mean-pooled over the text's tokens, as sentence-transformers pools all-MiniLM-L6-v2) becomes
its vector; PCA then reduces the vectors to ``--dims`` dimensions. This is the output-embedding
distillation of Model2Vec (Tulkens & van Dongen, 2024, https://github.com/MinishLab/model2vec) over
our own word vocabulary instead of the transformer's word pieces, without its SIF weighting (the
encoder's pooling is trained).

    python benchmarks/distilled_word_vectors.py ../shared/models/all-MiniLM-L6-v2 20newsgroups sst2 \\
        --data-dir ../shared/data --seed 42 --output runs/distilled/minilm-128.txt

The vocabulary is that of training (our word-level tokenizer, lower-cased; words seen at least
``--min-frequency`` times in the training splits carved with ``--seed``). The file is word2vec's text
format: ``python scripts/train.py ... --vectors FILE``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer

import mtl_text
from mtl_text.data.splits import column
from mtl_text.data.tokenization import PAD_TOKEN, UNK_TOKEN, train_word_tokenizer


def training_vocabulary(tasks: list[str], data_dir: str | None, seed: int, min_frequency: int) -> list[str]:
    """The words of training's vocabulary (:func:`mtl_text.data.tokenization.train_word_tokenizer` over
    the tasks' training texts, as training builds it), special tokens left out, most frequent first."""
    texts: list[str] = []
    for task in tasks:
        train = mtl_text.load_task_splits(task, data_dir, seed=seed)["train"]
        texts += [text for part in ("text", "text_pair") if part in train.column_names for text in column(train, part)]
    vocab = train_word_tokenizer(texts, min_frequency=min_frequency).get_vocab()
    return [word for word, _ in sorted(vocab.items(), key=lambda item: item[1]) if word not in (PAD_TOKEN, UNK_TOKEN)]


@torch.inference_mode()
def encode_words(model_path: str, words: list[str], batch_size: int) -> np.ndarray:
    """Each word's sentence embedding: ``(len(words), hidden)``, the output mean-pooled over its tokens
    (special tokens included, as sentence-transformers does)."""
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path).eval()
    out = []
    for i in tqdm(range(0, len(words), batch_size), desc="encoding words", unit="batch"):
        batch = tokenizer(words[i: i + batch_size], padding=True, truncation=True, max_length=32, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        out.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a transformer folder or Hub id (a sentence-transformers model with mean pooling)")
    parser.add_argument("tasks", nargs="+", help="the tasks whose training text gives the vocabulary")
    parser.add_argument("--data-dir")
    parser.add_argument("--seed", type=int, default=42, help="the seed that carves the validation split out of train")
    parser.add_argument("--min-frequency", type=int, default=2, help="as training's --min-word-frequency")
    parser.add_argument("--dims", type=int, default=128, help="PCA dimensions (0: keep the transformer's hidden size)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--output", required=True, help="the word2vec text file to write")
    args = parser.parse_args()

    t0 = time.time()
    words = training_vocabulary(args.tasks, args.data_dir, args.seed, args.min_frequency)
    print(f"{len(words)} words (seen at least {args.min_frequency} times) in {time.time() - t0:.1f}s")
    t0 = time.time()
    vectors = encode_words(args.model, words, args.batch_size)
    print(f"encoded in {time.time() - t0:.1f}s: {vectors.shape}")
    if args.dims:
        pca = PCA(n_components=args.dims, random_state=args.seed).fit(vectors)
        vectors = pca.transform(vectors)
        print(f"PCA to {args.dims} dimensions keeps {pca.explained_variance_ratio_.sum():.1%} of the variance")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        f.write(f"{len(words)} {vectors.shape[1]}\n")
        for word, row in zip(words, vectors):
            f.write(word + " " + " ".join(f"{x:.5f}" for x in row) + "\n")
    print(f"wrote {out}: values' standard deviation {vectors.std():.4f}")


if __name__ == "__main__":
    main()
