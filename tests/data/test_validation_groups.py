"""Validation carved by groups: a treebank sentence with its phrases on one side (SST-2), so that
validation does not score phrases of the sentences training reads."""

import collections

import pytest

from mtl_text import Task, load_task_splits, phrase_groups
from mtl_text.data.splits import carve_validation, column, cross_validation_fold


def test_phrase_groups_put_each_phrase_with_a_sentence_that_contains_it():
    texts = [
        "a gorgeous , witty , seductive movie",   # 0: a sentence
        "witty ,",                                # 1: its phrase
        "gorgeous , witty , seductive",           # 2: its phrase
        "the plot is a mess",                     # 3: another sentence
        "a mess",                                 # 4: its phrase, also words of no other text
        "mess",                                   # 5: a word of 3 and 4
        "xa mess",                                # 6: not "a mess" word for word, and no phrase of 3
        "the plot is a mess",                     # 7: the same sentence again
        "",                                       # 8: empty
        "  witty   , ",                           # 9: other whitespace, the same words as 1
        "ess",                                    # 10: characters of "mess", not a word of any text
        "not xa b a bore",                        # 11: holds the words "a" and "b" and the characters "a b" ...
        "a b",                                    # 12: ... but not the words "a b"
    ]
    groups = phrase_groups(texts)
    assert groups[1] == groups[2] == groups[9] == groups[0]
    assert groups[4] == groups[5] == groups[7] == groups[3]
    assert groups[6] not in (groups[0], groups[3])  # "xa mess" holds "mess" but lies in no other text
    assert groups[5] != groups[6]
    assert groups[10] == 10 and groups[8] == 8 and groups[12] == 12  # groups of their own
    assert phrase_groups([]) == []
    groups[0] = -1  # the caller's list: the remembered result of the same texts is not changed
    assert phrase_groups(list(texts))[0] == 0


def test_sst2_validation_holds_sentences_training_has_not_seen(data_dir):
    grouped = load_task_splits("sst2", data_dir, seed=42)
    by_example = load_task_splits("sst2", data_dir, seed=42, group_validation=False)
    for splits in (grouped, by_example):
        assert len(splits["train"]) + len(splits["validation"]) == 67349 and len(splits["test"]) == 872
    def overlap(splits):  # the share of validation texts that occur, word for word, inside a training text
        train = "\n".join(f" {' '.join(t.split())} " for t in column(splits["train"], "text"))
        texts = column(splits["validation"], "text")[:1500]
        return sum(f" {' '.join(t.split())} " in train for t in texts) / len(texts)
    assert overlap(by_example) > 0.8  # drawn one by one, validation repeats training's phrases
    assert overlap(grouped) < 0.1  # only phrases that several sentences share
    everything = column(grouped["train"], "text") + column(grouped["validation"], "text")
    assert 6800 < len(set(phrase_groups(everything))) < 7000  # SST's 6,920 training sentences
    assert len(grouped["validation"]) == pytest.approx(6735, rel=0.05)
    shares = [collections.Counter(column(s, "label"))[1] / len(s) for s in (grouped["train"], grouped["validation"])]
    assert shares[0] == pytest.approx(shares[1], abs=0.02)  # not stratified, but balanced like train
    again = load_task_splits("sst2", data_dir, seed=42)
    other = load_task_splits("sst2", data_dir, seed=43)
    assert column(again["validation"], "text") == column(grouped["validation"], "text")
    assert column(other["validation"], "text") != column(grouped["validation"], "text")
    assert column(other["test"], "text") == column(grouped["test"], "text")


def test_carving_by_groups_keeps_each_group_on_one_side():
    import datasets

    texts = [f"text {i}" for i in range(200)]
    train = datasets.Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(200)]})
    groups = [i // 5 for i in range(200)]  # 40 groups of 5
    kept, held_out = carve_validation(train, 0.1, seed=0, stratify=True, groups=groups)
    held = {int(t.split()[1]) // 5 for t in held_out["text"]}
    assert len(held) == 4 and len(held_out) == 20  # 10% of the groups, whole
    assert held.isdisjoint({int(t.split()[1]) // 5 for t in kept["text"]})
    assert carve_validation(train, 0.1, seed=1, stratify=True, groups=groups)[1]["text"] != held_out["text"]
    with pytest.raises(ValueError, match="199 group ids for 200"):
        carve_validation(train, 0.1, seed=0, stratify=True, groups=groups[1:])
    with pytest.raises(ValueError, match="one group"):
        carve_validation(train, 0.1, seed=0, stratify=True, groups=[0] * 200)


def test_cross_validation_folds_keep_a_task_s_groups_together():
    import datasets

    task = Task(name="grouped_folds", labels=["a", "b"], load=lambda d: {},
                validation_groups=lambda texts: [t.split()[0] for t in texts])  # group: the first word
    texts = [f"g{i // 4} example {i}" for i in range(80)]  # 20 groups of 4
    train = datasets.Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(80)]})
    seen = []
    for k in range(4):
        fold = cross_validation_fold(task, {"train": train}, k, 4, seed=0)
        held = {t.split()[0] for t in fold["validation"]["text"]}
        assert held.isdisjoint({t.split()[0] for t in fold["train"]["text"]})
        seen += held
    assert sorted(seen) == sorted({t.split()[0] for t in texts})  # every group held out once
    ungrouped = cross_validation_fold(task, {"train": train}, 0, 4, seed=0, group_validation=False)
    held = collections.Counter(t.split()[0] for t in ungrouped["validation"]["text"])
    assert any(n < 4 for n in held.values())  # drawn one by one, groups are cut


def test_a_task_s_groups_of_the_wrong_length_are_named(tmp_path):
    from mtl_text import DataFormatError

    task = Task(name="bad_groups", labels=["a", "b"], load=lambda d: {"train": {"text": ["x y", "y z", "z w"] * 10, "label": [0, 1, 1] * 10},
                                                                      "test": {"text": ["x"], "label": [0]}},
                validation_groups=lambda texts: [0])
    with pytest.raises(DataFormatError, match="task 'bad_groups': validation_groups returned 1 group ids for 30 training texts"):
        load_task_splits(task)
