"""Train the ML API's model offline and export it to ONNX.

The model is a small multilayer perceptron (4 -> 16 -> 3, ReLU, softmax)
classifying iris flowers, trained with plain NumPy gradient descent on the
iris data set that scikit-learn ships (no download). Writes, next to this
script:

  iris.csv       the training data (features and label)
  model.onnx     the model: input "features" [N, 4] float32, output
                 "probabilities" [N, 3] float32
  expected.json  inputs and the probabilities this script computes for
                 them, which the Rust service's tests must reproduce

Run: python3 -m venv /tmp/train && /tmp/train/bin/pip install numpy onnx scikit-learn
     /tmp/train/bin/python app/model/train.py
"""

import json
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_iris

HERE = pathlib.Path(__file__).resolve().parent
rng = np.random.default_rng(7)

iris = load_iris()
x = iris.data.astype(np.float32)
y = iris.target.astype(np.int64)
classes = [str(c) for c in iris.target_names]

with open(HERE / "iris.csv", "w") as f:
    f.write("sepal_length,sepal_width,petal_length,petal_width,label\n")
    for row, label in zip(x, y):
        f.write(",".join(f"{v:.1f}" for v in row) + f",{classes[label]}\n")

# Standardize inside the model, so clients send raw measurements.
mean = x.mean(axis=0)
std = x.std(axis=0)
xs = (x - mean) / std

hidden = 16
w1 = (rng.standard_normal((4, hidden)) * 0.5).astype(np.float32)
b1 = np.zeros(hidden, dtype=np.float32)
w2 = (rng.standard_normal((hidden, 3)) * 0.5).astype(np.float32)
b2 = np.zeros(3, dtype=np.float32)
onehot = np.eye(3, dtype=np.float32)[y]


def forward(inputs):
    z = (inputs - mean) / std
    h = np.maximum(z @ w1 + b1, 0)
    logits = h @ w2 + b2
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


learning_rate = 0.1
for step in range(3000):
    h_pre = xs @ w1 + b1
    h = np.maximum(h_pre, 0)
    logits = h @ w2 + b2
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    grad_logits = (p - onehot) / len(x)
    grad_w2 = h.T @ grad_logits
    grad_b2 = grad_logits.sum(axis=0)
    grad_h = grad_logits @ w2.T
    grad_h[h_pre <= 0] = 0
    grad_w1 = xs.T @ grad_h
    grad_b1 = grad_h.sum(axis=0)
    w1 -= learning_rate * grad_w1
    b1 -= learning_rate * grad_b1
    w2 -= learning_rate * grad_w2
    b2 -= learning_rate * grad_b2

accuracy = float((forward(x).argmax(axis=1) == y).mean())
print(f"training accuracy: {accuracy:.3f}")

nodes = [
    helper.make_node("Sub", ["features", "mean"], ["centered"]),
    helper.make_node("Div", ["centered", "std"], ["scaled"]),
    helper.make_node("MatMul", ["scaled", "w1"], ["h_mm"]),
    helper.make_node("Add", ["h_mm", "b1"], ["h_pre"]),
    helper.make_node("Relu", ["h_pre"], ["h"]),
    helper.make_node("MatMul", ["h", "w2"], ["logits_mm"]),
    helper.make_node("Add", ["logits_mm", "b2"], ["logits"]),
    helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
]
initializers = [
    numpy_helper.from_array(mean.astype(np.float32), "mean"),
    numpy_helper.from_array(std.astype(np.float32), "std"),
    numpy_helper.from_array(w1, "w1"),
    numpy_helper.from_array(b1, "b1"),
    numpy_helper.from_array(w2, "w2"),
    numpy_helper.from_array(b2, "b2"),
]
graph = helper.make_graph(
    nodes,
    "iris-mlp",
    [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 4])],
    [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])],
    initializers,
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="app/model/train.py")
model.ir_version = 8
model.metadata_props.append(onnx.StringStringEntryProto(key="classes", value=",".join(classes)))
onnx.checker.check_model(model)
onnx.save(model, HERE / "model.onnx")

# Every training row plus a few points between the classes.
probe = np.concatenate([x, np.array([[5.9, 3.0, 4.2, 1.5], [6.3, 2.8, 5.1, 1.5], [4.8, 3.4, 1.9, 0.2]], dtype=np.float32)])
expected = {
    "classes": classes,
    "training_accuracy": accuracy,
    "inputs": probe.tolist(),
    "probabilities": forward(probe).astype(np.float32).tolist(),
}
with open(HERE / "expected.json", "w") as f:
    json.dump(expected, f)
print(f"wrote {HERE / 'model.onnx'} ({(HERE / 'model.onnx').stat().st_size} bytes)")
