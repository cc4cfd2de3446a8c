// tfjs's wasm backend has no UnsortedSegmentSum kernel, and the gradient of Gather (an embedding
// lookup) is exactly that op. Without it the trainer had to multiply a multi-hot matrix of
// context × vocabulary columns by the embedding table (most of the training time); with it the
// embedding is a plain Gather in training as in the ONNX graph. A sequential sum in index order:
// the same inputs always give the same bits.

import * as tf from "@tensorflow/tfjs";

interface WasmBackendLike {
  readSync(dataId: unknown): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array;
}

let registered = false;

export function registerWasmSegmentSum(): void {
  if (registered || tf.getKernel("UnsortedSegmentSum", "wasm")) return;
  registered = true;
  tf.registerKernel({
    kernelName: "UnsortedSegmentSum",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as { numSegments: number }).numSegments;
      const wasm = backend as unknown as WasmBackendLike;
      const values = wasm.readSync(x.dataId);
      const ids = wasm.readSync(segmentIds.dataId);
      const inner = x.shape.slice(1).reduce((a, b) => a * b, 1);
      const out = wasm.makeOutput([numSegments, ...x.shape.slice(1)], x.dtype);
      const sums = wasm.typedArrayFromHeap(out);
      sums.fill(0);
      for (let i = 0; i < ids.length; i++) {
        const s = ids[i]!;
        if (s < 0 || s >= numSegments) continue;
        const to = s * inner;
        const from = i * inner;
        for (let j = 0; j < inner; j++) sums[to + j]! += values[from + j]!;
      }
      return out;
    },
  });
}
