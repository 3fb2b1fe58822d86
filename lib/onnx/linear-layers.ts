/**
 * Linear layers of an ONNX graph whose weights are graph inputs, and the graph surgery that
 * exposes their inputs as graph outputs (RegMean statistics, lib/stats/regmean-stats.ts).
 *
 * A graph input is a linear layer's weight W when it is a 2-D float tensor and every one of its
 * consumers is one of:
 * - `MatMul` with W as input B: y = x W, W is [in, out] — layout `in_out` (GPT-2's Conv1D);
 * - `Transpose` with perm [1, 0] (or none: the reverse of 2 dims) whose output is consumed only by
 *   `MatMul`s as input B: y = x Wᵀ, W is [out, in] — layout `out_in` (torch's nn.Linear);
 * - `Gemm` with W as input B and transA = 0: transB = 1 gives `out_in`, else `in_out`.
 * Any other use (a `Gather` for an embedding, a tied LM head that is also the embedding, a graph
 * output, a subgraph of an If/Loop) makes W not a linear layer: RegMean averages it instead.
 * The layer's input x is input A of each of those MatMul / Gemm nodes; a weight applied by several
 * nodes has several inputs, whose Grams are summed.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export type LinearLayout = 'in_out' | 'out_in';

export interface LinearLayer {
  /** The weight: a graph input named like the checkpoint's tensor. */
  weight: string;
  layout: LinearLayout;
  /** The tensors x multiplied by the weight (input A of its MatMul / Gemm nodes), one per node. */
  inputs: string[];
}

/** ONNX TensorProto element types of float weights (f32, f16, bf16, f64). */
const FLOAT_TYPES = new Set([1, 10, 16, 11]);

type Node = onnxProto.onnx.INodeProto;

function attribute(node: Node, name: string): onnxProto.onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

function intAttribute(node: Node, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a?.i === undefined || a.i === null ? fallback : Number(a.i);
}

/** Names read anywhere inside the subgraphs (If / Loop / Scan bodies) of a node. */
function subgraphReads(node: Node, into: Set<string>): void {
  for (const a of node.attribute ?? []) {
    for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) {
      for (const n of g.node ?? []) {
        for (const i of n.input ?? []) into.add(i);
        subgraphReads(n, into);
      }
    }
  }
}

/** The linear layers of a graph, in the order of its inputs. */
export function findLinearLayers(graph: onnxProto.onnx.IGraphProto): LinearLayer[] {
  const nodes = graph.node ?? [];
  const consumers = new Map<string, Node[]>();
  const inSubgraphs = new Set<string>();
  for (const n of nodes) {
    for (const i of new Set(n.input ?? [])) {
      if (i === '') continue;
      let list = consumers.get(i);
      if (list === undefined) consumers.set(i, (list = []));
      list.push(n);
    }
    subgraphReads(n, inSubgraphs);
  }
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const layers: LinearLayer[] = [];
  for (const input of graph.input ?? []) {
    const name = input.name ?? '';
    const tensor = input.type?.tensorType;
    if (!tensor || !FLOAT_TYPES.has(tensor.elemType ?? 0)) continue;
    if (tensor.shape && (tensor.shape.dim ?? []).length !== 2) continue;
    if (initializers.has(name) || outputs.has(name) || inSubgraphs.has(name)) continue;
    const uses = consumers.get(name) ?? [];
    if (uses.length === 0) continue;
    const found: { layout: LinearLayout; x: string }[] = [];
    let linear = true;
    for (const n of uses) {
      const ins = n.input ?? [];
      if (n.opType === 'MatMul' && ins[1] === name && ins[0] !== name) {
        found.push({ layout: 'in_out', x: ins[0]! });
      } else if (n.opType === 'Gemm' && ins[1] === name && ins[0] !== name && ins[2] !== name && intAttribute(n, 'transA', 0) === 0) {
        found.push({ layout: intAttribute(n, 'transB', 0) === 1 ? 'out_in' : 'in_out', x: ins[0]! });
      } else if (n.opType === 'Transpose' && transposes2d(n)) {
        const t = n.output?.[0] ?? '';
        const next = consumers.get(t) ?? [];
        if (next.length === 0 || outputs.has(t) || inSubgraphs.has(t) || !next.every((m) => m.opType === 'MatMul' && m.input?.[1] === t && m.input[0] !== t)) {
          linear = false;
          break;
        }
        for (const m of next) found.push({ layout: 'out_in', x: m.input![0]! });
      } else {
        linear = false;
        break;
      }
    }
    // One weight, one layout: a weight used both as [in, out] and as [out, in] is no linear layer.
    if (!linear || found.length === 0 || found.some((f) => f.layout !== found[0]!.layout)) continue;
    layers.push({ weight: name, layout: found[0]!.layout, inputs: found.map((f) => f.x) });
  }
  return layers;
}

function transposes2d(n: Node): boolean {
  const perm = attribute(n, 'perm');
  if (perm === undefined || (perm.ints ?? []).length === 0) return true;  // no perm: reverse the dims
  const p = perm.ints!.map(Number);
  return p.length === 2 && p[0] === 1 && p[1] === 0;
}

/**
 * A copy of `model` (the caller's object is not changed) whose graph also outputs each of
 * `tensors`, so a run returns them. An output's type is the graph's value info for it when there
 * is one, else float with an unknown shape. Returns the encoded model.
 */
export function exposeTensors(model: onnxProto.onnx.IModelProto, tensors: readonly string[]): Uint8Array {
  const copy = onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
  const graph = copy.graph!;
  graph.output ??= [];
  const present = new Set(graph.output.map((o) => o.name));
  const known = new Map<string, onnxProto.onnx.IValueInfoProto>();
  for (const v of [...(graph.valueInfo ?? []), ...(graph.input ?? [])]) if (v.name) known.set(v.name, v);
  for (const name of tensors) {
    if (present.has(name)) continue;
    present.add(name);
    const info = known.get(name);
    graph.output.push(onnx.ValueInfoProto.create(info?.type ? { name, type: info.type } : { name, type: { tensorType: { elemType: 1 } } }));
  }
  return onnx.ModelProto.encode(copy).finish();
}
