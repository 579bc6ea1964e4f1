"""gm.Reference (issue 16, part 1): every metric given a Reference in place of the real set gives the numbers of the
direct call, before and after save/load; damaged and mismatched files are named errors; the CLI."""

import json
import os
import zipfile

import numpy as np
import pytest

import genmetrics as gm
from genmetrics.reference import FORMAT_VERSION, Reference
from test_cli import assert_usage_error, run_cli


def sets(dtype=np.float32, n=300, m=240, t=200, d=12, seed=0):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n, d)).astype(dtype)
    fake = (rng.normal(size=(m, d)) * 1.1 + 0.2).astype(dtype)
    train = rng.normal(size=(t, d)).astype(dtype)
    return real, fake, train


@pytest.fixture(scope="module")
def built():
    real, fake, train = sets()
    return real, fake, train, Reference.build(real, train=train, k=(3, 5))


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_metrics_equal_the_direct_call(backend, dtype):
    real, fake, train = sets(dtype)
    ref = Reference.build(real, train=train, k=(1, 3, 5), backend="cpu")  # moments for numpy: computed on use
    assert gm.prdc(ref, fake, k=5, backend=backend) == gm.prdc(real, fake, k=5, backend=backend)
    assert gm.prdc(ref, fake, k=3, inclusive=True, backend=backend) == gm.prdc(
        real, fake, k=3, inclusive=True, backend=backend
    )
    a, b = gm.precision_recall(ref, fake, backend=backend), gm.precision_recall(real, fake, backend=backend)
    assert a == b
    np.testing.assert_array_equal(a.realism, b.realism)
    a, b = gm.alpha_precision(ref, fake, backend=backend), gm.alpha_precision(real, fake, backend=backend)
    assert a == b
    assert float(gm.authenticity(ref, fake, backend=backend)) == float(gm.authenticity(train, fake, backend=backend))
    assert float(gm.fd(ref, fake, backend=backend)) == float(gm.fd(real, fake, backend=backend))
    assert float(gm.gaussian_kl(ref, fake, backend=backend)) == float(gm.gaussian_kl(real, fake, backend=backend))
    assert gm.kid(ref, fake, subset_size=100, backend=backend) == gm.kid(real, fake, subset_size=100, backend=backend)
    x, y = gm.audit(ref, fake, backend=backend), gm.audit(real, fake, train, backend=backend)
    np.testing.assert_array_equal(x.keep, y.keep)
    assert dict(x.before) == dict(y.before) and dict(x.after) == dict(y.after)


@pytest.mark.parametrize("sizes", [(300, 240), (240, 300)], ids=["real larger", "fake larger"])
def test_evaluate_equals_the_direct_call_before_and_after_saving(tmp_path, sizes):
    real, fake, train = sets(n=sizes[0], m=sizes[1])
    ref = Reference.build(real, train=train)
    direct = gm.evaluate(real, fake, train).numbers()
    assert gm.evaluate(ref, fake).numbers() == direct
    assert gm.evaluate(ref, fake).numbers() == direct  # the real scores now come from the Reference's cache
    path = tmp_path / "real.gmref"
    ref.save(path)
    loaded = Reference.load(path)
    assert loaded.checksum == ref.checksum and loaded.k == ref.k
    np.testing.assert_array_equal(np.asarray(loaded), real)
    assert gm.evaluate(loaded, fake).numbers() == direct
    report = gm.evaluate(loaded, fake, metrics=["fd"])
    assert report.info["reference"] == ref.checksum[:16]


def test_reference_behaves_as_the_real_array(built):
    real, _, train, ref = built
    assert ref.shape == real.shape and ref.dtype == real.dtype and len(ref) == real.shape[0]
    np.testing.assert_array_equal(np.asarray(ref), real)
    assert not ref.real.flags.writeable and not ref.train.flags.writeable
    assert gm.fd(real, ref) == 0.0  # where no cache applies, it is simply the array
    assert "300 x 12" in repr(ref) and "train 200 x 12" in repr(ref)


def test_settings_the_reference_does_not_hold_are_named_errors(built):
    _, fake, _, ref = built
    with pytest.raises(ValueError, match=r"^k: 7 .*rebuild it with gm.Reference.build\(real, k=\(3, 5, 7\)\)"):
        gm.prdc(ref, fake, k=7)
    no_train = Reference.build(np.asarray(ref))
    with pytest.raises(ValueError, match="^train: this Reference was built without a training set"):
        gm.authenticity(no_train, fake)
    with pytest.raises(ValueError, match="^k"):
        Reference.build(np.asarray(ref), k=(3, 300))
    with pytest.raises(ValueError, match="^train: has 5 features"):
        Reference.build(np.asarray(ref), train=np.ones((10, 5)))
    with pytest.raises(TypeError, match="^k"):
        Reference.build(np.asarray(ref), k="5")


def _rewrite(path, changes):
    """Rewrite the archive at path with some members replaced (name -> bytes) or removed (name -> None)."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    for name, data in changes.items():
        if data is None:
            members.pop(name)
        else:
            members[name] = data
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _npy(array):
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_damaged_and_mismatched_files_are_named_errors(built, tmp_path):
    real, _, _, ref = built
    path = tmp_path / "r.gmref"
    ref.save(path)
    with pytest.raises(ValueError, match="^path: no such file"):
        Reference.load(tmp_path / "missing.gmref")
    (tmp_path / "junk.gmref").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a genmetrics Reference file"):
        Reference.load(tmp_path / "junk.gmref")
    edited = real.copy()
    edited[3, 4] += 1.0  # the data changed, the checksum did not
    _rewrite(path, {"real.npy": _npy(edited)})
    with pytest.raises(ValueError, match="checksum of its data does not match"):
        Reference.load(path)
    ref.save(path)
    with zipfile.ZipFile(path) as archive:
        header = json.loads(str(np.load(archive.open("header.npy"))))
    header["format_version"] = FORMAT_VERSION + 1
    _rewrite(path, {"header.npy": _npy(np.array(json.dumps(header)))})
    with pytest.raises(ValueError, match="format version"):
        Reference.load(path)
    ref.save(path)
    _rewrite(path, {"cache/neighbors.npy": None})
    with pytest.raises(ValueError, match="neighbour distances are missing"):
        Reference.load(path)
    ref.save(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped byte inside the archive
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="^path: "):
        Reference.load(path)
    assert not os.path.exists(str(path) + ".partial")


def test_cli_reference_build_and_evaluate(tmp_path):
    real, fake, train = sets()
    for name, array in (("real", real), ("fake", fake), ("train", train)):
        np.save(tmp_path / f"{name}.npy", array)
    out = tmp_path / "real.gmref"
    built = run_cli("reference", "build", tmp_path / "real.npy", "--train", tmp_path / "train.npy", "-o", out)
    assert built.returncode == 0, built.stderr
    assert Reference.load(out).checksum == Reference.build(real, train=train).checksum
    args = ("--quiet", "--metrics", "prdc", "fd", "authenticity")
    with_reference = run_cli("evaluate", out, tmp_path / "fake.npy", *args)
    direct = run_cli("evaluate", tmp_path / "real.npy", tmp_path / "fake.npy", "--train", tmp_path / "train.npy", *args)
    assert with_reference.returncode == 0, with_reference.stderr

    def values(text):  # the table without the timings
        return [line.split("|")[:5] for line in text.splitlines() if line.startswith("| ")]

    assert values(with_reference.stdout) == values(direct.stdout)
    assert_usage_error(run_cli("reference", "build", tmp_path / "real.npy", "-o", out), "exists")
    assert_usage_error(
        run_cli("reference", "build", tmp_path / "real.npy", "-o", tmp_path / "x.gmref", "--k", "0"), "k"
    )
