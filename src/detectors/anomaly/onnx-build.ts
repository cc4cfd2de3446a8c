// A small builder for ONNX graphs written by hand: hv's trainers export their own weights as
// MatMul/Add/Relu (dense layers) or ai.onnx.ml TreeEnsembleRegressor (trees), so the agent needs
// nothing but onnxruntime to score. The bytes depend only on what is passed in, so the same
// weights and metadata always give the same file.

import onnxProto from "onnx-proto";

const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type ValueInfo = onnxProto.onnx.IValueInfoProto;
type Attribute = onnxProto.onnx.IAttributeProto;

export const OPSET = 13;
/** hv's models are a few MB; a file far bigger is not one of them (and is not read whole). */
export const MAX_MODEL_BYTES = 256 * 1024 * 1024;
export const ML_OPSET = 3;

export type Dim = number | string;

/** A float32 constant (weights, biases). */
export function floatTensor(name: string, dims: number[], values: ArrayLike<number>): TensorProto {
  const size = dims.reduce((a, b) => a * b, 1);
  if (values.length !== size) throw new Error(`tensor ${name}: ${values.length} values for dims [${dims.join(",")}]`);
  // raw_data (little-endian float32) keeps large tensors compact and fast to load.
  const raw = Buffer.from(Float32Array.from(values).buffer);
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw };
}

/** An int32 constant (index offsets added to int32 inputs). */
export function int32Tensor(name: string, dims: number[], values: number[]): TensorProto {
  return { name, dims, dataType: onnx.TensorProto.DataType.INT32, rawData: Buffer.from(Int32Array.from(values).buffer) };
}

/** An int64 constant (shapes, offsets, axes). */
export function int64Tensor(name: string, dims: number[], values: number[]): TensorProto {
  const raw = Buffer.from(BigInt64Array.from(values.map((v) => BigInt(v))).buffer);
  return { name, dims, dataType: onnx.TensorProto.DataType.INT64, rawData: raw };
}

export function node(opType: string, inputs: string[], outputs: string[], attrs: Attribute[] = [], domain = ""): NodeProto {
  return { opType, input: inputs, output: outputs, name: `${opType}_${outputs[0]}`, attribute: attrs, domain };
}

export const attr = {
  int: (name: string, i: number): Attribute => ({ name, type: onnx.AttributeProto.AttributeType.INT, i }),
  float: (name: string, f: number): Attribute => ({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f }),
  string: (name: string, s: string): Attribute => ({ name, type: onnx.AttributeProto.AttributeType.STRING, s: Buffer.from(s) }),
  ints: (name: string, ints: number[]): Attribute => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints }),
  floats: (name: string, floats: number[]): Attribute => ({ name, type: onnx.AttributeProto.AttributeType.FLOATS, floats }),
  strings: (name: string, strings: string[]): Attribute => ({ name, type: onnx.AttributeProto.AttributeType.STRINGS, strings: strings.map((s) => Buffer.from(s)) }),
};

const ELEM_TYPES = { float: onnx.TensorProto.DataType.FLOAT, int64: onnx.TensorProto.DataType.INT64, int32: onnx.TensorProto.DataType.INT32 };

export function valueInfo(name: string, elemType: keyof typeof ELEM_TYPES, shape: Dim[]): ValueInfo {
  const dataType = ELEM_TYPES[elemType];
  return {
    name,
    type: { tensorType: { elemType: dataType, shape: { dim: shape.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** Part of a graph (its own inputs, outputs, constants and nodes) that a model adds to another. */
export interface GraphFragment {
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: TensorProto[];
  nodes: NodeProto[];
}

export interface GraphSpec {
  name: string;
  nodes: NodeProto[];
  initializers: TensorProto[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** metadata_props, written in the order given. */
  metadata: Record<string, string>;
  /** Whether the graph uses the ai.onnx.ml domain. */
  ml?: boolean;
  docString?: string;
}

export function encodeModel(spec: GraphSpec): Uint8Array {
  const opsets = [{ domain: "", version: OPSET }];
  if (spec.ml) opsets.push({ domain: "ai.onnx.ml", version: ML_OPSET });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: "hv",
    producerVersion: "1",
    opsetImport: opsets,
    docString: spec.docString ?? "",
    graph: { name: spec.name, node: spec.nodes, initializer: spec.initializers, input: spec.inputs, output: spec.outputs },
    metadataProps: Object.entries(spec.metadata).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}

/** The metadata_props of an ONNX file (onnxruntime-node does not expose them). */
export function readMetadata(bytes: Uint8Array): Record<string, string> {
  const model = onnx.ModelProto.decode(bytes);
  const out: Record<string, string> = {};
  for (const p of model.metadataProps) if (p.key) out[p.key] = p.value ?? "";
  return out;
}

/** Input and output names, element types and shapes, for `hv model info`. */
export function describeGraph(bytes: Uint8Array): { inputs: string[]; outputs: string[]; nodes: number; opsets: string[] } {
  const model = onnx.ModelProto.decode(bytes);
  const fmt = (v: onnxProto.onnx.IValueInfoProto): string => {
    const t = v.type?.tensorType;
    const elem = Object.entries(ELEM_TYPES).find(([, v]) => v === t?.elemType)?.[0] ?? String(t?.elemType);
    const dims = (t?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : String(d.dimValue)));
    return `${v.name}: ${elem}[${dims.join(", ")}]`;
  };
  return {
    inputs: (model.graph?.input ?? []).map(fmt),
    outputs: (model.graph?.output ?? []).map(fmt),
    nodes: model.graph?.node?.length ?? 0,
    opsets: model.opsetImport.map((o) => `${o.domain || "ai.onnx"}:${String(o.version)}`),
  };
}
