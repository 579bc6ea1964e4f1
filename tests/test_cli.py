"""The ``genmetrics`` command line, run as a user runs it: ``python -m genmetrics ...`` in a subprocess.

Bad input must end in exit code 2 and exactly one line on stderr, ``genmetrics: error: ...``, naming the file,
never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import genmetrics as gm
from genmetrics.report.evaluate import METRIC_GROUPS

GENERATORS = ("faithful", "mode collapse", "memoriser", "noisy")


def run_cli(*args, cwd=None, timeout=120, env=None):
    env = {**os.environ, **(env or {})}
    env.pop("GENMETRICS_BACKEND", None)
    return subprocess.run(
        [sys.executable, "-m", "genmetrics", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_usage_error(result, *fragments):
    """Exit 2, nothing on stdout, one line on stderr that starts 'genmetrics: error:' and holds ``fragments``."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("genmetrics: error: "), lines[0]
    for fragment in fragments:
        assert str(fragment) in lines[0], (fragment, lines[0])
    assert result.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small embedding files and broken ones, in one directory."""
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    real = rng.standard_normal((80, 6)).astype(np.float32)
    paths = {}

    def save(name, array):
        paths[name] = root / name
        np.save(paths[name], array)

    save("real.npy", real)
    save("fake.npy", (0.8 * rng.standard_normal((70, 6)) + 0.3).astype(np.float32))
    save("train.npy", rng.standard_normal((60, 6)).astype(np.float32))
    save("wide.npy", rng.standard_normal((70, 7)).astype(np.float32))
    save("flat.npy", rng.standard_normal(70))
    save("unicode.npy", np.array([["a", "b"]] * 10, dtype="U5"))
    save("complex.npy", np.ones((70, 6), dtype=complex))
    save("structured.npy", np.zeros(70, dtype=[("a", "f4"), ("b", "f4")]))
    save("bool.npy", rng.random((70, 6)) > 0.5)
    save("int.npy", rng.integers(-5, 5, size=(70, 6)))
    nan = rng.standard_normal((70, 6))
    nan[10, 3] = np.nan
    save("nan.npy", nan)
    inf = rng.standard_normal((70, 6))
    inf[0, 0] = np.inf
    save("inf.npy", inf)
    save("scalar.npy", np.float64(1.0))
    save("empty.npy", np.zeros((0, 6)))
    paths["object.npy"] = root / "object.npy"
    np.save(paths["object.npy"], np.array([[1, None]] * 3, dtype=object), allow_pickle=True)
    paths["arrays.npz"] = root / "arrays.npz"
    np.savez(paths["arrays.npz"], first=real, emb=real[:50] + 0.1)
    paths["empty.npz"] = root / "empty.npz"
    np.savez(paths["empty.npz"])
    paths["object.npz"] = root / "object.npz"
    np.savez(paths["object.npz"], emb=np.array([[1, None]] * 3, dtype=object))
    paths["text.txt"] = root / "text.txt"
    paths["text.txt"].write_text("0.1 0.2\n0.3 0.4\n")
    paths["zero_bytes.npy"] = root / "zero_bytes.npy"
    paths["zero_bytes.npy"].write_bytes(b"")
    paths["bad.npz"] = root / "bad.npz"
    paths["bad.npz"].write_bytes(b"PK\x03\x04 this is not a zip archive")
    paths["dir"] = root / "a_directory"
    paths["dir"].mkdir()
    paths["root"] = root
    return paths


def test_main_module_exists():
    assert (Path(gm.__file__).parent / "__main__.py").is_file()
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("evaluate", "demo", "diversity-demo", "diversity", "backends"):
        assert command in result.stdout


def test_no_command_is_a_usage_error():
    result = run_cli()
    assert result.returncode == 2 and "Traceback" not in result.stderr


# ----------------------------------------------------------------------------------------------------------
# genmetrics evaluate
# ----------------------------------------------------------------------------------------------------------


def test_evaluate_writes_markdown_and_json(files, tmp_path):
    out = tmp_path / "out.json"
    result = run_cli(
        "evaluate",
        files["real.npy"],
        files["fake.npy"],
        "--train",
        files["train.npy"],
        "--json",
        out,
        "--quiet",
        "--metrics",
        "prdc",
        "authenticity",
        "fd",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # --quiet: no progress bar
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Real: 80 samples, generated: 70, training: 60; d = 6")
    assert "| group | metric | value | parameters | seconds |" in lines
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| group")]
    assert [row.split("|")[2].strip() for row in rows] == [
        "prdc.precision",
        "prdc.recall",
        "prdc.density",
        "prdc.coverage",
        "authenticity (against train)",
        "fd",
    ]
    report = json.loads(out.read_text())
    assert list(report["metrics"]) == ["prdc", "authenticity", "fd"]
    assert report["info"]["n_real"] == 80 and report["info"]["n_fake"] == 70 and report["info"]["n_train"] == 60
    assert report["info"]["d"] == 6 and report["info"]["dtype"] == "float32"
    assert report["metrics"]["prdc"]["parameters"] == {"k": 5}
    for key in ("precision", "recall", "density", "coverage"):
        assert 0 <= report["metrics"]["prdc"]["value"][key] <= 5
    assert 0 <= report["metrics"]["authenticity"]["value"] <= 1
    assert report["metrics"]["fd"]["value"] > 0
    # the same numbers as the library on the same arrays
    real, fake = np.load(files["real.npy"]), np.load(files["fake.npy"])
    p = gm.prdc(real, fake, k=5)
    assert report["metrics"]["prdc"]["value"]["recall"] == p.recall
    assert report["metrics"]["fd"]["value"] == pytest.approx(gm.fd(real, fake), rel=1e-12)


def test_evaluate_options(files, tmp_path):
    out = tmp_path / "out.json"
    result = run_cli(
        "evaluate",
        files["real.npy"],
        files["fake.npy"],
        "--quiet",
        "--metrics",
        "fidelity",
        "kid",
        "--k",
        "3",
        "--seed",
        "2",
        "--backend",
        "numpy",
        "--json",
        out,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert list(report["metrics"]) == [*METRIC_GROUPS["fidelity"], "kid"]
    assert report["metrics"]["prdc"]["parameters"]["k"] == 3
    assert report["info"]["backend"] == "numpy" and report["info"]["seed"] == 2
    assert report["info"]["n_train"] is None
    assert "backend numpy" in result.stdout


def test_evaluate_all_metrics_with_progress_bar(files):
    pytest.importorskip("tqdm")
    result = run_cli("evaluate", files["real.npy"], files["fake.npy"], "--train", files["train.npy"])
    assert result.returncode == 0, result.stderr
    for name in (
        "prdc.recall",
        "authenticity (against train)",
        "vendi.fake",
        "rke.fake",
        "fd",
        "kid.mean",
        "cmmd",
        "gaussian_kl",
        "knn_kl.real_fake",
        "knn_kl.fake_real",
    ):
        assert f"| {name} |" in result.stdout, name
    assert "genmetrics evaluate" in result.stderr  # tqdm's bar, on stderr
    assert "Traceback" not in result.stderr


def test_evaluate_metrics_all_given_explicitly(files, tmp_path):
    out = tmp_path / "out.json"
    result = run_cli("evaluate", files["real.npy"], files["fake.npy"], "--quiet", "--metrics", "all", "--json", out)
    assert result.returncode == 0, result.stderr
    needs_train = ("authenticity", "ct_score", "fls")
    assert list(json.loads(out.read_text())["metrics"]) == [m for m in gm.METRICS if m not in needs_train]


def test_evaluate_reports_warnings(files):
    result = run_cli("evaluate", files["real.npy"], files["fake.npy"], "--quiet", "--metrics", "vendi")
    assert result.returncode == 0, result.stderr
    assert "Warnings:" in result.stdout and "equal size" in result.stdout


def test_npz_with_key(files, tmp_path):
    out = tmp_path / "out.json"
    npz = files["arrays.npz"]
    result = run_cli("evaluate", npz, npz, "--key", "emb", "--quiet", "--metrics", "fd", "--json", out)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["info"]["n_real"] == 50  # the array named emb, not the first one
    assert report["metrics"]["fd"]["value"] == pytest.approx(0.0, abs=1e-9)
    # without --key: the first array of the archive (--force: over the report of the first run)
    result = run_cli("evaluate", npz, files["fake.npy"], "--quiet", "--metrics", "fd", "--json", out, "--force")
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["info"]["n_real"] == 80


def test_large_file_is_memory_mapped(tmp_path):
    rng = np.random.default_rng(1)
    big = tmp_path / "big.npy"
    np.save(big, rng.standard_normal((20000, 8)).astype(np.float32))
    fake = tmp_path / "fake.npy"
    np.save(fake, rng.standard_normal((500, 8)).astype(np.float32))
    from genmetrics.cli import _load  # noqa: PLC0415

    assert isinstance(_load(str(big)), np.memmap)
    out = tmp_path / "out.json"
    result = run_cli("evaluate", big, fake, "--quiet", "--metrics", "prdc", "fd", "--json", out)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["info"]["n_real"] == 20000 and report["info"]["dtype"] == "float32"


def test_integer_and_bool_arrays_are_numbers(files):
    # cli._embeddings accepts dtype kinds b, i, u, f (check_embeddings turns bool and integers into float64)
    for name in ("int.npy", "bool.npy"):
        result = run_cli("evaluate", files["real.npy"], files[name], "--quiet", "--metrics", "fd")
        assert result.returncode == 0, (name, result.stderr)
        assert "| fd |" in result.stdout


@pytest.mark.parametrize(
    "real, fake, extra, fragments",
    [
        ("real.npy", "missing.npy", (), ("missing.npy", "no such file")),
        ("missing.npy", "fake.npy", (), ("missing.npy", "no such file")),
        ("real.npy", "fake.npy", ("--train", "missing.npy"), ("missing.npy",)),
        ("real.npy", "text.txt", (), ("text.txt",)),
        ("real.npy", "zero_bytes.npy", (), ("zero_bytes.npy",)),
        ("real.npy", "dir", (), ("a_directory",)),
        ("real.npy", "object.npy", (), ("object.npy",)),
        ("real.npy", "flat.npy", (), ("flat.npy", "2-D")),
        ("scalar.npy", "fake.npy", (), ("scalar.npy", "2-D")),
        ("real.npy", "empty.npy", (), ("empty.npy",)),
        ("real.npy", "wide.npy", (), ("wide.npy", "7 features", "6")),
        ("real.npy", "fake.npy", ("--train", "wide.npy"), ("wide.npy", "7 features")),
        ("real.npy", "unicode.npy", (), ("unicode.npy", "U5")),
        ("real.npy", "complex.npy", (), ("complex.npy", "complex")),
        ("real.npy", "structured.npy", (), ("structured.npy",)),
        ("real.npy", "nan.npy", (), ("nan.npy", "NaN")),
        ("inf.npy", "fake.npy", (), ("inf.npy", "infinite")),
        ("arrays.npz", "arrays.npz", ("--key", "nope"), ("arrays.npz", "nope", "emb")),
        ("empty.npz", "fake.npy", (), ("empty.npz", "empty")),
        ("real.npy", "fake.npy", ("--metrics", "prdc", "bogus"), ("metrics", "bogus")),
        ("real.npy", "fake.npy", ("--k", "0"), ("k",)),
        ("real.npy", "fake.npy", ("--backend", "nope"), ("backend", "nope")),
    ],
)
def test_evaluate_bad_input(files, real, fake, extra, fragments):
    def path(name):
        return files[name] if name in files else files["root"] / name

    extra = tuple(str(path(x)) if x.endswith((".npy", ".npz")) else x for x in extra)
    # a case's own --metrics comes after this one, and argparse keeps the last
    result = run_cli("evaluate", path(real), path(fake), "--quiet", "--metrics", "prdc", "fd", *extra)
    assert_usage_error(result, *fragments)


def test_npz_with_an_object_array(files):
    result = run_cli("evaluate", files["object.npz"], files["real.npy"], "--quiet", "--metrics", "fd")
    assert_usage_error(result, "object.npz")


def test_corrupt_npz(files):
    result = run_cli("evaluate", files["real.npy"], files["bad.npz"], "--quiet", "--metrics", "fd")
    assert_usage_error(result, "bad.npz")


def test_unavailable_backend_is_a_usage_error(files):
    unavailable = [name for name, (ok, _) in gm.backends().items() if not ok]
    if not unavailable:
        pytest.skip("every backend is available here")
    result = run_cli(
        "evaluate", files["real.npy"], files["fake.npy"], "--quiet", "--metrics", "fd", "--backend", unavailable[0]
    )
    assert_usage_error(result, "backend", unavailable[0])


def test_plot(files, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "report.png"
    result = run_cli(
        "evaluate",
        files["real.npy"],
        files["fake.npy"],
        "--quiet",
        "--metrics",
        "prdc",
        "alpha_precision",
        "vendi",
        "--plot",
        out,
    )
    assert result.returncode == 0, result.stderr
    assert out.is_file() and out.stat().st_size > 0


# ----------------------------------------------------------------------------------------------------------
# the other commands
# ----------------------------------------------------------------------------------------------------------


def test_demo():
    result = run_cli("demo", "--n", "300")
    assert result.returncode == 0, result.stderr
    for name in GENERATORS:
        assert name in result.stdout
    assert "authenticity" in result.stdout
    assert "Traceback" not in result.stderr
    table = {
        line[:14].strip(): line[14:].split()
        for line in result.stdout.splitlines()
        if line[:14].strip() in GENERATORS and len(line[14:].split()) == 9
    }
    assert set(table) == set(GENERATORS)
    column = {
        name: i
        for i, name in enumerate(
            (
                "prdc.precision",
                "prdc.recall",
                "prdc.density",
                "prdc.coverage",
                "authenticity",
                "vendi.fake",
                "rke.fake",
                "fd",
                "kid.mean",
            )
        )
    }

    def lowest(metric):
        return min(GENERATORS, key=lambda g: float(table[g][column[metric]]))

    assert lowest("authenticity") == "memoriser"
    assert lowest("prdc.recall") == "mode collapse"
    assert lowest("prdc.coverage") == "mode collapse"
    assert lowest("prdc.precision") == "noisy"


def test_backends():
    result = run_cli("backends")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines() if line.strip()}
    assert set(listed) >= {"cpu", "numpy", "cuda", "cupy"}
    assert listed["numpy"] == "yes"
    for name, (available, _) in gm.backends().items():
        assert listed[name] == ("yes" if available else "no")


def test_diversity_demo():
    result = run_cli("diversity-demo", "--n", "200", "--big-n", "500")
    assert result.returncode == 0, result.stderr
    assert "mode collapse" in result.stdout and "RKE" in result.stdout


def test_diversity(files, tmp_path):
    out = tmp_path / "div.json"
    result = run_cli("diversity", files["real.npy"], "--q", "1", "2", "--json", out)
    assert result.returncode == 0, result.stderr
    results = json.loads(out.read_text())
    assert {"vendi_q1.0", "vendi_q2.0", "rke", "intdiv"} <= set(results)
    real = np.load(files["real.npy"])
    assert results["vendi_q1.0"]["value"] == pytest.approx(float(gm.vendi(real, q=1)), rel=1e-10)


@pytest.mark.parametrize("name", ["missing.npy", "flat.npy", "nan.npy", "unicode.npy"])
def test_diversity_bad_input(files, name):
    path = files[name] if name in files else files["root"] / name
    assert_usage_error(run_cli("diversity", path), name)


def test_demo_too_small_is_a_usage_error():
    assert_usage_error(run_cli("demo", "--n", "20"), "--n")


def test_unwritable_json_is_a_usage_error_not_a_traceback(files, tmp_path):
    target = str(tmp_path / "missing-dir" / "out.json")
    result = run_cli("evaluate", files["real.npy"], files["fake.npy"], "--quiet", "--metrics", "fd", "--json", target)
    assert_usage_error(result, "out.json")


# ----------------------------------------------------------------------------------------------------------
# settings, outputs and warnings: one line, before the work
# ----------------------------------------------------------------------------------------------------------


def _commands(files):
    """Each computing command, cheap: (name, arguments)."""
    return {
        "evaluate": ("evaluate", files["real.npy"], files["fake.npy"], "--quiet", "--metrics", "fd"),
        "diversity": ("diversity", files["real.npy"]),
        "demo": ("demo", "--n", "100"),
        "diversity-demo": ("diversity-demo", "--n", "50", "--big-n", "10"),
    }


@pytest.mark.parametrize("threads", ["abc", "1.5", "-2"])
@pytest.mark.parametrize("command", ["evaluate", "diversity", "demo", "diversity-demo"])
def test_bad_num_threads_is_a_one_line_error(files, command, threads):
    result = run_cli(*_commands(files)[command], env={"GENMETRICS_NUM_THREADS": threads})
    assert_usage_error(result, "GENMETRICS_NUM_THREADS", threads)


def test_num_threads_above_int32_is_no_dump(files):
    # either capped (the engine runs with the threads it can use) or refused in one line: never pybind11's dump
    result = run_cli(*_commands(files)["evaluate"], env={"GENMETRICS_NUM_THREADS": str(2**31 + 1)})
    if result.returncode == 0:
        assert "| fd |" in result.stdout and result.stderr == ""
    else:
        assert_usage_error(result, "GENMETRICS_NUM_THREADS")


@pytest.mark.parametrize("ridge, fragments", [("-1", ("ridge", ">= 0")), ("nan", ("ridge",)), ("inf", ("ridge",))])
def test_bad_ridge_is_a_one_line_error(files, ridge, fragments):
    assert_usage_error(run_cli(*_commands(files)["evaluate"], "--ridge", ridge), *fragments)


def test_ridge_enables_gaussian_kl(tmp_path):
    rng = np.random.default_rng(3)
    for name in ("real", "fake"):  # 20 samples for 30 features: singular covariances
        np.save(tmp_path / f"{name}.npy", rng.standard_normal((20, 30)))
    args = ("evaluate", tmp_path / "real.npy", tmp_path / "fake.npy", "--quiet", "--metrics", "gaussian_kl")
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "| gaussian_kl |" not in result.stdout and "pass ridge > 0" in result.stdout
    result = run_cli(*args, "--ridge", "0.5")  # what the warning says works
    assert result.returncode == 0, result.stderr
    assert "| gaussian_kl |" in result.stdout and "ridge=0.5" in result.stdout and "skipped" not in result.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ("diversity-demo", "--n", "1"),
        ("diversity-demo", "--n", "0"),
        ("diversity-demo", "--n", "49"),
        ("diversity-demo", "--big-n", "1"),
        ("diversity-demo", "--n", str(10**20)),
        ("demo", "--n", str(10**20)),
    ],
)
def test_demo_sizes_out_of_range_are_one_line_errors(argv):
    assert_usage_error(run_cli(*argv), argv[-2])


def test_diversity_demo_smallest_size():
    result = run_cli("diversity-demo", "--n", "50", "--big-n", "2")
    assert result.returncode == 0, result.stderr
    assert "copies (50 distinct samples)" in result.stdout


OUTPUTS = [("evaluate", "--json", "out.json"), ("diversity", "--json", "out.json"), ("evaluate", "--plot", "out.png")]


def _needs_plot(option):
    if option == "--plot":
        pytest.importorskip("matplotlib")


@pytest.mark.parametrize("command, option, name", OUTPUTS)
def test_output_to_a_directory_or_missing_directory_is_a_one_line_error(files, tmp_path, command, option, name):
    _needs_plot(option)
    args = _commands(files)[command]
    assert_usage_error(run_cli(*args, option, tmp_path), str(tmp_path), "directory")
    assert_usage_error(run_cli(*args, option, tmp_path / "missing" / name), name, "directory does not exist")


@pytest.mark.parametrize("command, option, name", OUTPUTS)
def test_output_never_overwrites_an_input(files, tmp_path, command, option, name):
    _needs_plot(option)
    target = tmp_path / "real.npy"
    target.write_bytes(files["real.npy"].read_bytes())
    before = target.read_bytes()
    args = [target if x == files["real.npy"] else x for x in _commands(files)[command]]
    for force in ((), ("--force",)):
        assert_usage_error(run_cli(*args, option, target, *force), "real.npy", "input")
        assert target.read_bytes() == before
    if command == "evaluate":  # the same file by another name
        link = tmp_path / "link.npy"
        link.symlink_to(target)
        assert_usage_error(run_cli(*args, option, link, "--force"), "link.npy", "input")
        assert target.read_bytes() == before


@pytest.mark.parametrize("command, option, name", OUTPUTS)
def test_output_overwrites_an_existing_file_only_with_force(files, tmp_path, command, option, name):
    _needs_plot(option)
    out = tmp_path / name
    out.write_text("keep me")
    args = _commands(files)[command]
    assert_usage_error(run_cli(*args, option, out), name, "exists", "--force")
    assert out.read_text() == "keep me"
    result = run_cli(*args, option, out, "--force")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() != b"keep me"


def test_json_and_plot_to_the_same_file(files, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out.png"
    assert_usage_error(run_cli(*_commands(files)["evaluate"], "--json", out, "--plot", out), "--json and --plot")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (a file whose writes fail)")
def test_a_failed_write_names_its_own_file(files, tmp_path):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "ok.png"
    result = run_cli(*_commands(files)["evaluate"], "--json", "/dev/full", "--force", "--plot", plot)
    line = assert_usage_error(result, "/dev/full", "cannot be written")
    assert "ok.png" not in line
    result = run_cli(*_commands(files)["diversity"], "--json", "/dev/full", "--force")
    assert_usage_error(result, "/dev/full", "cannot be written")


@pytest.mark.skipif(np.finfo(np.longdouble).max <= np.finfo(np.float64).max, reason="long double is float64 here")
@pytest.mark.parametrize("command", ["evaluate", "diversity"])
def test_no_runtime_warning_before_a_one_line_error(files, tmp_path, command):
    # long double values beyond float64: the cast to float64 warns (overflow), then the check refuses the infinities
    values = np.ones((70, 6), dtype=np.longdouble)
    values[3, 2] = np.longdouble(np.finfo(np.float64).max) * 16
    path = tmp_path / "huge.npy"
    np.save(path, values)
    args = [path if x == files["real.npy"] else x for x in _commands(files)[command]]
    assert_usage_error(run_cli(*args), "huge.npy")


def test_ood_demo():
    result = run_cli("ood-demo", "--n", "400", "--draws", "2")
    assert result.returncode == 0, result.stderr
    rows = {line[:34].strip(): float(line[34:]) for line in result.stdout.splitlines() if line[34:].strip()[:1] in "01"}
    assert rows["raw log-likelihood"] < 0.1  # the paradox: OOD inputs get the higher likelihood
    assert rows["entropy-controlled, linear map"] > 0.8  # and its cure
    assert_usage_error(run_cli("ood-demo", "--draws", "0"), "--draws")
