import collections

import pytest

import mtl_text
from mtl_text import (
    DataNotFoundError,
    Task,
    TaskFileError,
    UnknownTaskError,
    get_task,
    list_tasks,
    load_task_file,
    load_task_splits,
    register_task,
)

from helpers import write_user_task


def test_builtin_tasks_are_registered():
    assert {"20newsgroups", "sst2", "trec", "cola", "goemotions", "stsb", "mrpc", "rte"} <= set(list_tasks())
    assert get_task("20newsgroups").num_labels == 20
    assert get_task("sst2").labels == ("negative", "positive")
    assert get_task("trec").num_labels == 6


def test_unknown_task_lists_known_ones():
    with pytest.raises(UnknownTaskError) as info:
        get_task("imdb")
    message = str(info.value)
    assert "imdb" in message and "20newsgroups" in message and "sst2" in message and "trec" in message


def test_duplicate_name_is_refused():
    task = Task(name="dup_check", labels=["a", "b"], load=lambda d: {})
    register_task(task)
    register_task(task)  # the same object again is fine
    with pytest.raises(ValueError, match="already registered"):
        register_task(Task(name="dup_check", labels=["a", "b"], load=lambda d: {}))


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "bad name"}, "letters"),
    ({"labels": ["only"]}, "at least 2"),
    ({"labels": ["a", "a"]}, "unique"),
    ({"max_length": 0}, "max_length"),
    ({"problem_type": "ranking"}, "problem_type"),
    ({"hub_dataset": ("nyu-mll/glue", "sst2")}, "HubDataset"),
])
def test_task_validation(kwargs, match):
    args = {"name": "ok", "labels": ["a", "b"], "load": lambda d: {}} | kwargs
    with pytest.raises(ValueError, match=match):
        Task(**args)


@pytest.mark.parametrize("name, train_val, test, labels", [
    ("20newsgroups", 11314, 7532, 20),
    ("sst2", 67349, 872, 2),
    ("trec", 5452, 500, 6),
])
def test_builtin_loaders_read_real_files(data_dir, name, train_val, test, labels):
    splits = load_task_splits(name, data_dir, seed=0)
    assert list(splits) == ["train", "validation", "test"]
    assert len(splits["train"]) + len(splits["validation"]) == train_val
    assert len(splits["test"]) == test
    grouped = get_task(name).validation_groups is not None  # SST-2: 10% of the sentences, with their phrases
    assert len(splits["validation"]) == pytest.approx(0.1 * train_val, rel=0.05 if grouped else 0, abs=2)
    assert splits["train"].features["label"].num_classes == labels
    assert set(splits["test"]["label"]) == set(range(labels))
    assert all(isinstance(t, str) and t.strip() for t in splits["validation"]["text"][:200])


def test_20newsgroups_keeps_headers_and_sorted_labels(data_dir):
    splits = load_task_splits("20newsgroups", data_dir, seed=0)
    assert splits["test"]["text"][0].startswith("From:")
    assert splits["test"].features["label"].names[0] == "alt.atheism"
    counts = collections.Counter(splits["test"]["label"])
    assert counts[0] == 319 and counts[19] == 251  # sklearn's bydate test counts


def test_validation_split_is_stratified_seeded_and_disjoint(data_dir):
    a = load_task_splits("trec", data_dir, seed=1)
    b = load_task_splits("trec", data_dir, seed=1)
    c = load_task_splits("trec", data_dir, seed=2)
    assert a["validation"]["text"] == b["validation"]["text"]
    assert a["validation"]["text"] != c["validation"]["text"]
    assert len(a["train"]) + len(a["validation"]) == 5452
    train_counts = collections.Counter(a["train"]["label"])
    val_counts = collections.Counter(a["validation"]["label"])
    for label, n in train_counts.items():  # stratified: the same class proportions
        assert val_counts[label] / len(a["validation"]) == pytest.approx(n / len(a["train"]), abs=0.01)
    assert a["test"]["text"] == c["test"]["text"]  # the test split never moves


@pytest.mark.parametrize("seed", [0, 42])
def test_carved_validation_is_the_split_datasets_would_draw(data_dir, seed):
    """carve_validation reads the labels in one batch but draws exactly what datasets' stratified
    train_test_split draws (so figures measured before keep their splits)."""
    from mtl_text.data.splits import _to_dataset, carve_validation, resolve_data_dir

    task = get_task("trec")
    train = _to_dataset(task, "train", task.load(resolve_data_dir(data_dir))["train"])
    expected = train.train_test_split(test_size=0.1, stratify_by_column="label", seed=seed)
    carved = carve_validation(train, 0.1, seed, stratify=True)
    assert carved[0]["text"] == expected["train"]["text"] and carved[1]["text"] == expected["test"]["text"]
    with pytest.raises(ValueError, match="single training example"):
        carve_validation(train.filter(lambda x: x["label"] != 5).add_item({"text": "a lone label", "label": 5}), 0.1, seed,
                         stratify=True)


@pytest.mark.parametrize("name", ["sst2", "mrpc"])
def test_the_test_split_alone_is_the_test_split_of_all_splits(data_dir, name):
    """load_test_split skips carving validation (SST-2's phrase groups) but gives the same rows and
    features; a pair task keeps its second text."""
    alone, full = mtl_text.load_test_split(name, data_dir), load_task_splits(name, data_dir)["test"]
    assert alone.features == full.features and alone.to_dict() == full.to_dict()
    with pytest.raises(mtl_text.UnknownTaskError):
        mtl_text.load_test_split("no-such-task", data_dir)


def test_column_reads_a_selection_in_its_order(data_dir):
    from mtl_text.data.splits import column

    test = load_task_splits("trec", data_dir)["test"].select([4, 0, 2])
    assert column(test, "text") == [test[i]["text"] for i in range(3)] and isinstance(column(test, "label"), list)
    assert column(test, "label") == [test[i]["label"] for i in range(3)]


def test_missing_files_give_a_clear_error(tmp_path, monkeypatch):
    import datasets

    def no_network(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", no_network)
    for load in (load_task_splits, mtl_text.load_test_split):
        with pytest.raises(DataNotFoundError) as info:
            load("sst2", tmp_path)
        message = str(info.value)
        assert str(tmp_path / "sst2" / "train.tsv") in message and "--data-dir" in message and "no network" in message


def test_builtin_tasks_download_from_the_hub_dataset_they_declare(tmp_path, monkeypatch):
    """Without local files, GoEmotions and SST-2 read the dataset their Task names (the one the model
    card will name), into the task's own columns and splits."""
    import datasets

    names = list(get_task("goemotions").labels)
    go_features = datasets.Features({"text": datasets.Value("string"), "labels": datasets.Sequence(datasets.ClassLabel(names=names))})
    go = {split: datasets.Dataset.from_dict({"text": [f"{split} text"], "labels": [[0, 27]]}, features=go_features)
          for split in ("train", "validation", "test")}
    glue_features = datasets.Features({"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "positive"])})
    glue = {split: datasets.Dataset.from_dict({"sentence": [f"{split} sentence"], "label": [1]}, features=glue_features)
            for split in ("train", "validation")}
    # TREC's classes on the Hub come in another order than the task's labels: read by name, not by id
    trec_features = datasets.Features({"text": datasets.Value("string"),
                                       "coarse_label": datasets.ClassLabel(names=["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"])})
    trec = {split: datasets.Dataset.from_dict({"text": ["What is a dog ?", "Why ?"], "coarse_label": [1, 2]}, features=trec_features)
            for split in ("train", "test")}
    calls = []

    def load_dataset(path, name=None):
        calls.append((path, name))
        return {"google-research-datasets/go_emotions": go, "nyu-mll/glue": glue, "CogComp/trec": trec}[path]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    emotions = get_task("goemotions").load(tmp_path)
    assert calls == [(get_task("goemotions").hub_dataset.path, "simplified")]
    assert emotions["test"] == {"text": ["test text"], "label": [["admiration", "neutral"]]} and set(emotions) == {"train", "validation", "test"}
    sst2 = get_task("sst2")
    assert sst2.load(None)["test"] == {"text": ["validation sentence"], "label": ["positive"]}  # GLUE's test labels are hidden
    assert get_task("trec").load(None)["test"]["label"] == ["ENTY", "DESC"]
    assert sst2.hub_dataset.test_reference() == {"path": "nyu-mll/glue", "name": "sst2", "split": "validation"}
    assert get_task("trec").hub_dataset.test_reference() == {"path": "CogComp/trec", "split": "test"}
    assert get_task("20newsgroups").hub_dataset is None  # read by scikit-learn's fetcher, not from the Hub
    with pytest.raises(ValueError, match="'test'"):
        mtl_text.HubDataset("someone/data", splits={"train": "train"})


def test_a_task_of_a_hub_dataset_needs_no_loader(monkeypatch):
    """``Task(hub_dataset=HubDataset(..., columns=...))`` reads the dataset itself; a split or column
    it lacks, and a failed download, are errors naming the dataset."""
    import datasets

    features = datasets.Features({"review": datasets.Value("string"), "stars": datasets.ClassLabel(names=["pos", "neg"])})
    data = {split: datasets.Dataset.from_dict({"review": ["fine", "awful", "good", "bad"], "stars": [0, 1, 0, 1]}, features=features)
            for split in ("train", "test")}
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda path, name=None, **kw: calls.append((path, name, kw)) or data)
    hub = mtl_text.HubDataset("someone/reviews", columns={"text": "review", "label": "stars"}, revision="v1")
    task = Task(name="hub_reviews", labels=["neg", "pos"], hub_dataset=hub)
    splits = load_task_splits(task, None, seed=1, validation_size=0.5)
    assert calls[0] == ("someone/reviews", None, {"revision": "v1"})
    assert splits["test"]["label"][:] == [1, 0, 1, 0]  # the task's ids of "pos", "neg", "pos", "neg"
    assert hub.test_reference() == {"path": "someone/reviews", "split": "test", "revision": "v1"}
    with pytest.raises(mtl_text.DataFormatError, match=r"someone/reviews, split 'train': no column\(s\) \['body'\]"):
        Task(name="hub_bad", labels=["neg", "pos"], hub_dataset=mtl_text.HubDataset("someone/reviews", columns={
            "text": "body", "label": "stars"})).load(None)
    with pytest.raises(mtl_text.DataFormatError, match="no split 'validation'"):
        Task(name="hub_bad", labels=["neg", "pos"], hub_dataset=mtl_text.HubDataset("someone/reviews", splits={
            "train": "train", "test": "validation"}, columns={"text": "review", "label": "stars"})).load(None)

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataNotFoundError, match="task 'hub_reviews': the Hugging Face Hub dataset someone/reviews could not be read"):
        task.load(None)
    with pytest.raises(ValueError, match="give load=, or a hub_dataset whose columns map"):
        Task(name="hub_none", labels=["neg", "pos"], hub_dataset=mtl_text.HubDataset("someone/reviews"))


def test_real_trec_as_a_hub_dataset_folder_reads_as_the_builtin_task(data_dir, tmp_path, monkeypatch):
    """The real TREC files as a dataset folder in the Hub's layout and class order (parquet;
    ``coarse_label`` a ClassLabel ABBR, ENTY, DESC, ...), read by a task with no loader: the same
    texts and label ids, split for split, as the built-in ``trec``, whose labels are ABBR, DESC, ENTY, ..."""
    import datasets

    trec = get_task("trec")
    hub_order = ["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]
    features = datasets.Features({"text": datasets.Value("string"), "coarse_label": datasets.ClassLabel(names=hub_order)})
    builtin = trec.load(data_dir)
    for split, rows in builtin.items():
        (tmp_path / "trec" / "data").mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_dict({"text": rows["text"], "coarse_label": [hub_order.index(label) for label in rows["label"]]},
                                   features=features).to_parquet(tmp_path / "trec" / "data" / f"{split}-00000-of-00001.parquet")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    task = Task(name="trec_hub_folder", labels=trec.labels, num_examples=trec.num_examples,
                hub_dataset=mtl_text.HubDataset(str(tmp_path / "trec"), columns={"text": "text", "label": "coarse_label"}))
    ours, theirs = load_task_splits(trec, data_dir, seed=3), load_task_splits(task, None, seed=3)
    for split in ("train", "validation", "test"):
        assert ours[split]["text"][:] == theirs[split]["text"][:] and ours[split]["label"][:] == theirs[split]["label"][:]
    assert collections.Counter(theirs["test"]["label"][:])[trec.labels.index("DESC")] == 138  # DESC is not read as ENTY (94)


def test_real_mrpc_pairs_as_a_hub_dataset_folder_read_as_the_builtin_task(data_dir, tmp_path, monkeypatch):
    """Sentence pairs: the real MRPC files as a Hub-layout folder (GLUE's column names, its classes in
    the reverse order of the task's), read by a pair task with no loader: the same pairs and labels."""
    import datasets

    mrpc = get_task("mrpc")
    reverse = list(reversed(mrpc.labels))
    features = datasets.Features({"sentence1": datasets.Value("string"), "sentence2": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=reverse)})
    for split, rows in mrpc.load(data_dir).items():
        (tmp_path / "mrpc" / "data").mkdir(parents=True, exist_ok=True)
        ids = [reverse.index(mrpc.labels[label] if isinstance(label, int) else label) for label in rows["label"]]
        datasets.Dataset.from_dict({"sentence1": rows["text"], "sentence2": rows["text_pair"], "label": ids}, features=features) \
            .to_parquet(tmp_path / "mrpc" / "data" / f"{split}-00000-of-00001.parquet")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    task = Task(name="mrpc_hub_folder", labels=mrpc.labels, text_pair=True, num_examples=mrpc.num_examples,
                hub_dataset=mtl_text.HubDataset(str(tmp_path / "mrpc"), columns={"text": "sentence1", "text_pair": "sentence2",
                                                                                   "label": "label"}))
    ours, theirs = mtl_text.load_test_split(mrpc, data_dir), mtl_text.load_test_split(task)
    for column in ("text", "text_pair", "label"):
        assert ours[column][:] == theirs[column][:]
    assert sum(theirs["label"][:]) == 279  # "equivalent" (id 1) pairs of GLUE's dev set, not the 129 others


def test_user_task_file_registers_a_fourth_task(tmp_path):
    path = write_user_task(tmp_path, "file")
    assert load_task_file(path) == ["punctuation_file"]
    assert load_task_file(path) == ["punctuation_file"]  # loading twice is harmless
    assert "punctuation_file" in list_tasks()
    splits = load_task_splits("punctuation_file", tmp_path, seed=0)
    assert len(splits["train"]) == 36 and len(splits["validation"]) == 4 and len(splits["test"]) == 40
    assert splits["train"].features["label"].names == ["question", "statement"]
    assert "mtl_text" not in str(path)  # the package was not edited


def test_missing_task_file():
    with pytest.raises(TaskFileError, match="nope.py"):
        load_task_file("nope.py")


@pytest.mark.parametrize("body, match", [
    ("def broken(:\n", r"broken_syntax\.py failed to load: SyntaxError at line 1"),
    ("x = 1\nraise ValueError('no data here')\n", r"raising\.py failed to load: ValueError at line 2: no data here"),
])
def test_a_task_file_that_fails_is_named(tmp_path, body, match):
    path = tmp_path / ("broken_syntax.py" if "def" in body else "raising.py")
    path.write_text(body)
    with pytest.raises(TaskFileError, match=match):
        load_task_file(path)


def test_package_exports():
    assert mtl_text.MultiTaskModel.__name__ == "MultiTaskModel"
    assert mtl_text.push_to_hub is mtl_text.modeling.hub.push_to_hub
