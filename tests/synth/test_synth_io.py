"""On-disk benchmark: byte-for-byte determinism, manifest, refusing to overwrite, `ensure` races."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from xscale.errors import UserError
from xscale.synth import ensure, generate, load_corpus, load_task, read_manifest
from xscale.synth.io import ALL_TASKS, FORMAT, content_hash
from xscale.synth.config import make_config

# Small enough to generate in about a second; used where the content does not matter.
QUICK = {"corpus_tokens": 5_000, "intermediate_train_size": 20, "intermediate_validation_size": 10,
         "target_train_size": 20, "target_validation_size": 10, "test_size": 10, "retrieval_validation_size": 10}


def file_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def twins(tiny_bench, tmp_path_factory):
    """The tiny benchmark of seed 0 generated a second time, and the one of seed 1."""
    root = tmp_path_factory.mktemp("twins")
    return generate(root / "again", "tiny", 0), generate(root / "seed1", "tiny", 1)


def test_same_seed_gives_identical_bytes(tiny_bench, twins):
    first, second = file_hashes(tiny_bench), file_hashes(twins[0])
    assert first == second
    assert any(name.endswith(".arrow") for name in first)
    assert any(name.endswith("state.json") for name in first)


def test_other_seed_gives_other_content(tiny_bench, twins):
    ours, theirs = file_hashes(tiny_bench), file_hashes(twins[1])
    assert ours.keys() == theirs.keys()
    assert ours["tokenizer.json"] != theirs["tokenizer.json"]
    assert ours["tasks/xnli/train/data-00000-of-00001.arrow"] != theirs["tasks/xnli/train/data-00000-of-00001.arrow"]
    assert read_manifest(tiny_bench)["hash"] != read_manifest(twins[1])["hash"]


def test_manifest_describes_the_content(tiny_bench):
    manifest = read_manifest(tiny_bench)
    assert manifest["format"] == FORMAT
    assert manifest["preset"] == "tiny" and manifest["seed"] == 0
    assert manifest["hash"] == content_hash(make_config("tiny"), 0)
    assert manifest["config"]["test_size"] == 100
    assert set(manifest["tasks"]) == set(ALL_TASKS)
    assert manifest["tasks"]["mnli"]["role"] == "intermediate"
    assert manifest["tasks"]["xnli"]["role"] == "target"
    assert manifest["tasks"]["xnli"]["splits"]["test.sov"] == 100
    assert manifest["corpus_tokens"] == sum(load_corpus(tiny_bench)["n_tokens"]) >= 150_000
    on_disk = file_hashes(tiny_bench)
    on_disk.pop("manifest.json")
    assert manifest["files"] == on_disk


def test_generate_keeps_an_identical_benchmark(tiny_bench):
    before = {p: p.stat().st_mtime_ns for p in tiny_bench.rglob("*")}
    assert generate(tiny_bench, "tiny", 0) == tiny_bench
    assert {p: p.stat().st_mtime_ns for p in tiny_bench.rglob("*")} == before


def test_generate_replaces_an_earlier_benchmark_of_another_config(tmp_path):
    out = generate(tmp_path / "bench", "tiny", 0, **QUICK)
    generate(out, "tiny", 0, **{**QUICK, "test_size": 12})
    assert read_manifest(out)["config"]["test_size"] == 12
    assert len(load_task(out, "xnli")["test.en"]) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench"]


def test_generate_refuses_a_foreign_non_empty_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match=r"synth.out: .* refusing to overwrite"):
        generate(tmp_path, "tiny", 0, **QUICK)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_generate_fills_an_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    out = generate(tmp_path / "empty", "tiny", 0, **QUICK)
    assert read_manifest(out)["preset"] == "tiny"


def test_bad_seed_and_unknown_task_are_user_errors(tmp_path, tiny_bench):
    with pytest.raises(UserError, match="synth.seed"):
        generate(tmp_path / "x", "tiny", -1)
    with pytest.raises(UserError, match=r"synth.task: unknown task 'nli' \(allowed: mnli"):
        load_task(tiny_bench, "nli")
    with pytest.raises(UserError, match="synth.bench_dir"):
        read_manifest(tmp_path)


def test_ensure_names_by_preset_seed_and_hash_and_reuses(tmp_path):
    first = ensure(tmp_path, "tiny", 3, **QUICK)
    digest = read_manifest(first)["hash"]
    assert first == tmp_path / f"tiny-3-{digest[:12]}"
    stamp = (first / "manifest.json").stat().st_mtime_ns
    assert ensure(tmp_path, "tiny", 3, **QUICK) == first
    assert (first / "manifest.json").stat().st_mtime_ns == stamp
    other = ensure(tmp_path, "tiny", 3, **{**QUICK, "code_switch_prob": 0.0})
    assert other != first and other.parent == tmp_path


def test_ensure_is_safe_when_processes_race(tmp_path):
    code = ("import sys, json; from xscale.synth import ensure; "
            "print(ensure(sys.argv[1], 'tiny', 5, **json.loads(sys.argv[2])))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), json.dumps(QUICK)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    paths = {out.strip() for out, _ in outs}
    assert len(paths) == 1
    assert [p.name for p in tmp_path.iterdir()] == [Path(paths.pop()).name]
