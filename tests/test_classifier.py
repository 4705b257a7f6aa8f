"""The feature network of the distribution metrics: accuracy of the committed weights, feature
shape and determinism, one-line errors for bad weight files, the id, reproducible training."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from shared.classifier import (
    FEATURE_DIM,
    WEIGHTS_PATH,
    ClassifierError,
    MNISTClassifier,
    batched_features,
    classifier_id,
    load_classifier,
)
from tools.train_classifier import accuracy, save_weights, train


@pytest.fixture(scope="module")
def net() -> MNISTClassifier:
    return load_classifier()


def test_committed_weights_reach_99_percent_on_the_test_split(net):
    folder = os.environ.get("MNIST_DIR")
    if not folder or not (Path(folder) / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("MNIST_DIR is not set or holds no MNIST files (CI sets it)")
    from shared.data import load_mnist

    splits = load_mnist(folder)
    assert len(splits.test_x) == 10_000
    assert accuracy(net, splits.test_x, splits.test_y) >= 0.99


def test_features_shape_dtype_and_determinism(net, embedded_splits):
    x = embedded_splits.test_x[:300]
    a, b = batched_features(net, x, batch=128), batched_features(net, x, batch=128)
    assert a.shape == (300, FEATURE_DIM) == (300, net.num_features)
    assert a.dtype == torch.float32 and not a.requires_grad
    assert torch.equal(a, b)
    assert (a >= 0).all()  # after the ReLU
    assert torch.allclose(a, net.features(x))  # batching changes nothing but rounding
    assert net(x[:5]).shape == (5, 10)
    assert not net.training and not any(p.requires_grad for p in net.parameters())


def test_features_reject_wrong_image_shape(net):
    with pytest.raises(ValueError, match=r"\[N, 1, 28, 28\]"):
        net.features(torch.zeros(2, 28, 28))


def _assert_one_line(exc: pytest.ExceptionInfo, path: Path) -> None:
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message and "python tools/train_classifier.py" in message


def test_missing_file_raises_one_line_error(tmp_path):
    path = tmp_path / "absent.npz"
    with pytest.raises(ClassifierError) as exc:
        load_classifier(path)
    _assert_one_line(exc, path)
    with pytest.raises(ClassifierError):
        classifier_id(path)


@pytest.mark.parametrize("keep", [0, 100, 0.5])
def test_corrupt_file_raises_one_line_error(tmp_path, keep):
    raw = WEIGHTS_PATH.read_bytes()
    path = tmp_path / "corrupt.npz"
    path.write_bytes(raw[: int(len(raw) * keep) if isinstance(keep, float) else keep])
    with pytest.raises(ClassifierError) as exc:
        load_classifier(path)
    _assert_one_line(exc, path)


def test_wrong_keys_or_shapes_raise_one_line_error(tmp_path, net):
    state = {k: v.clone() for k, v in net.state_dict().items()}
    path = tmp_path / "w.npz"
    save_weights({**state, "fc.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(ClassifierError, match="fc.weight") as exc:
        load_classifier(path)
    _assert_one_line(exc, path)
    save_weights({k: v for k, v in state.items() if k != "head.bias"}, path)
    with pytest.raises(ClassifierError, match="head.bias"):
        load_classifier(path)
    np.save(tmp_path / "single.npy", np.zeros(3, np.float32))
    with pytest.raises(ClassifierError):
        load_classifier(tmp_path / "single.npy")


def test_classifier_id_is_stable_and_follows_the_file(tmp_path):
    ident = classifier_id()
    assert ident == classifier_id(WEIGHTS_PATH)
    assert ident.startswith("mnist-lenet-") and len(ident) == len("mnist-lenet-") + 12
    copy = tmp_path / "copy.npz"
    copy.write_bytes(WEIGHTS_PATH.read_bytes())
    assert classifier_id(copy) == ident
    net = load_classifier(copy)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["head.bias"][0] += 1.0
    save_weights(state, copy)
    assert classifier_id(copy) != ident


def test_training_is_bit_reproducible(embedded_splits, tmp_path):
    s = embedded_splits
    args = (s.train_x[:256], s.train_y[:256], s.val_x[:64], s.val_y[:64])
    first, history = train(*args, epochs=1, seed=7)
    second, _ = train(*args, epochs=1, seed=7)
    assert len(history) == 1 and history[0]["epoch"] == 1
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    other, _ = train(*args, epochs=1, seed=8)
    assert not torch.equal(first["fc.weight"], other["fc.weight"])
    save_weights(first, tmp_path / "a.npz")
    save_weights(second, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert load_classifier(tmp_path / "a.npz").num_features == FEATURE_DIM
