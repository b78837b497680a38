#!/usr/bin/env python3
"""Rewrites an ONNX model, in place, so that ONNX Runtime keeps it in its blocked (NCHWc) layout.

ONNX Runtime's CPU provider runs convolutions in a channel-blocked layout (NCHWc) and converts
tensors back to plain NCHW (ReorderOutput / ReorderInput) around every op its NCHWc transformer
does not know. MediaPipe's face mesh and iris models have two such ops after every block:
- **PRelu** (per-channel slope `s`): ONNX Runtime 1.31 and 1.32 also run its kernel about six
  times slower than 1.22. It becomes `Relu(x) + Conv1x1_depthwise(-s, Relu(Conv1x1_depthwise(-1,
  x)))`: for x > 0 the second term is -s * 0; for x <= 0 the first is 0 and the second
  -s * -x = s * x, each product exact up to its own rounding, as PRelu's.
- **Pad** of zero channels at the end (the residual branch after a MaxPool, 16 -> 32 channels):
  becomes a 1x1 convolution with identity weights (each output channel is one input channel
  times 1 plus the others times 0, or 0 for the new channels).
- **Outputs not asked for** (`--keep NAME,...`): the other graph outputs are dropped with every
  node that only they need. MediaPipe's iris model computes the eye contour and the iris in two
  branches after a shared trunk; the eye-openness reading needs the contour only, and without the
  iris branch (53 of its 171 nodes as converted) a run takes 2.5 instead of 3.5 ms (ONNX Runtime
  1.32, one core).
The rewrites compute the same function (on the kept outputs), and the script checks it before saving: ONNX's
reference evaluator runs the model before and after on a fixed random input, and the outputs
must agree (they are bit-identical for the face mesh and iris models). ONNX Runtime's NCHWc
convolutions sum in another order than its plain ones, so in ONNX Runtime outputs move by float
rounding (on random input, at most 6e-5 px on the face mesh's 192 px landmarks). Measured with
ONNX Runtime 1.32 on one core: face mesh 2.67 -> 1.59 ms, iris 3.0 -> 2.0 ms per run (the
earlier Relu/Min/Mul/Add form of PRelu left 23 reorders in the mesh). Pads are rewritten only
when both channel counts are multiples of 16 (the NCHWc block on AVX-512, twice AVX2's); a
model with nothing to rewrite is left unchanged.

usage: onnx_rewrite.py MODEL.onnx [--keep OUTPUT[,OUTPUT...]]
Needs only onnx and numpy (the set-up's converter venv).
"""
import copy
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference
from onnx.reference import ReferenceEvaluator

# Channel counts the NCHWc layout takes whole, on AVX2 (8) and AVX-512 (16) alike.
BLOCK = 16


def channel_pad(node, init, shapes):
    """(input channels, added channels) when `node` pads zero channels at the end only."""
    if node.op_type != "Pad" or len(node.input) < 2 or node.input[1] not in init:
        return None
    mode = [a.s for a in node.attribute if a.name == "mode"]
    if mode and mode[0] != b"constant":
        return None
    if len(node.input) > 2 and node.input[2]:
        if node.input[2] not in init or numpy_helper.to_array(init[node.input[2]]).item() != 0:
            return None
    pads = numpy_helper.to_array(init[node.input[1]]).tolist()
    shape = shapes.get(node.input[0], [])
    if len(pads) != 8 or len(shape) != 4 or shape[1] <= 0:
        return None
    if pads[:5] + pads[6:] != [0] * 7 or pads[5] <= 0:
        return None
    cin, added = shape[1], pads[5]
    if cin % BLOCK or (cin + added) % BLOCK:
        return None
    return cin, added


def rewrite(model):
    """Rewrites `model`'s PRelu and channel-Pad nodes; returns how many were rewritten."""
    graph = model.graph
    init = {i.name: i for i in graph.initializer}
    inferred = shape_inference.infer_shapes(model).graph
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in list(inferred.value_info) + list(inferred.input)
    }
    nodes, count, minus_one = [], 0, {}
    for node in graph.node:
        pad = channel_pad(node, init, shapes)
        if pad is not None:
            cin, added = pad
            weights = np.zeros((cin + added, cin, 1, 1), np.float32)
            weights[np.arange(cin), np.arange(cin), 0, 0] = 1
            name = f"pad_rewrite_{count}_identity"
            count += 1
            graph.initializer.append(numpy_helper.from_array(weights, name))
            nodes.append(
                helper.make_node(
                    "Conv", [node.input[0], name], list(node.output), kernel_shape=[1, 1]
                )
            )
            continue
        if node.op_type != "PRelu" or node.input[1] not in init:
            nodes.append(node)
            continue
        x, slope = node.input
        (y,) = node.output
        s = numpy_helper.to_array(init[slope]).astype(np.float32).ravel()
        shape = shapes.get(x, [])
        channels = shape[1] if len(shape) == 4 else 0
        if s.size == 1 and channels > 0:
            s = np.full(channels, s[0], np.float32)
        if channels <= 0 or s.size != channels:
            # Not a per-channel (or single) slope over a known NCHW input: left as it is.
            nodes.append(node)
            continue
        if channels not in minus_one:
            minus_one[channels] = f"prelu_rewrite_minus_one_{channels}"
            graph.initializer.append(
                numpy_helper.from_array(
                    -np.ones((channels, 1, 1, 1), np.float32), minus_one[channels]
                )
            )
        p = f"prelu_rewrite_{count}_"
        count += 1
        graph.initializer.append(
            numpy_helper.from_array((-s).reshape(channels, 1, 1, 1), p + "slope")
        )
        depthwise = {"group": channels, "kernel_shape": [1, 1]}
        nodes += [
            helper.make_node("Relu", [x], [p + "positive"]),
            helper.make_node("Conv", [x, minus_one[channels]], [p + "negated"], **depthwise),
            helper.make_node("Relu", [p + "negated"], [p + "negative"]),
            helper.make_node("Conv", [p + "negative", p + "slope"], [p + "scaled"], **depthwise),
            helper.make_node("Add", [p + "positive", p + "scaled"], [y]),
        ]
    if count:
        replace(graph.node, nodes)
        drop_unused_initializers(graph)
    return count


def replace(field, items):
    """Replaces the contents of a repeated protobuf field."""
    items = list(items)
    del field[:]
    field.extend(items)


def drop_unused_initializers(graph):
    """Drops the initializers no node reads."""
    used = {i for n in graph.node for i in n.input}
    replace(graph.initializer, [i for i in graph.initializer if i.name in used])


def keep_outputs(model, names):
    """Drops every graph output not in `names`, and the nodes and initializers only they need;
    returns how many nodes were dropped. Fails when a name is not an output."""
    graph = model.graph
    outputs = [o.name for o in graph.output]
    unknown = [n for n in names if n not in outputs]
    if unknown:
        sys.exit(f"onnx_rewrite: no output named {', '.join(unknown)} (outputs: {', '.join(outputs)})")
    producer = {out: node for node in graph.node for out in node.output}
    needed, pending = set(), list(names)
    while pending:
        node = producer.get(pending.pop())
        if node is not None and id(node) not in needed:
            needed.add(id(node))
            pending.extend(node.input)
    kept = [n for n in graph.node if id(n) in needed]
    dropped = len(graph.node) - len(kept)
    replace(graph.node, kept)
    replace(graph.output, [o for o in graph.output if o.name in names])
    drop_unused_initializers(graph)
    return dropped


def largest_difference(before, after):
    """Largest absolute difference between the outputs of two models with one float input (each
    output of `after` against `before`'s output of that name), on a fixed random input in
    [0, 1), relative to the largest output value (at least 1)."""
    (inp,) = before.graph.input
    shape = [d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    names = [o.name for o in after.graph.output]
    expected = ReferenceEvaluator(before).run(names, {inp.name: x})
    got = ReferenceEvaluator(after).run(None, {inp.name: x})
    if len(expected) != len(got) or not got:
        return float("inf")
    worst = 0.0
    for e, g in zip(expected, got):
        if e.shape != g.shape:
            return float("inf")
        scale = max(1.0, float(np.abs(e).max(initial=0.0)))
        worst = max(worst, float(np.abs(e.astype(np.float64) - g).max(initial=0.0)) / scale)
    return worst


def main():
    args = sys.argv[1:]
    keep = None
    if len(args) == 3 and args[1] == "--keep":
        keep = [n for n in args[2].split(",") if n]
        args = args[:1]
    if len(args) != 1 or keep == []:
        sys.exit("usage: onnx_rewrite.py MODEL.onnx [--keep OUTPUT[,OUTPUT...]]")
    original = onnx.load(args[0])
    model = copy.deepcopy(original)
    dropped = keep_outputs(model, keep) if keep else 0
    count = rewrite(model)
    if count or dropped:
        onnx.checker.check_model(model)
        difference = largest_difference(original, model)
        if not difference <= 1e-6:
            sys.exit(f"onnx_rewrite: the rewritten model's outputs differ by {difference:.3g}")
        print(
            f"onnx_rewrite: {dropped} nodes of unused outputs dropped, {count} nodes rewritten,"
            f" outputs differ by {difference:.3g}",
            file=sys.stderr,
        )
        onnx.save(model, args[0])


if __name__ == "__main__":
    main()
