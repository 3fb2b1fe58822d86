/** Evolver: fuse fine-tuned models by evolving their weights. Public library surface. */
export { backends, type BackendInfo, type BackendName } from './backends.js';
export { WeightFileError, EvolverArgumentError, type WeightFileErrorCode } from './errors.js';
export { DTYPES, type DType, type ComputeDType, type TensorArray, isDType, dtypeBytes } from './store/dtypes.js';
export { MAX_HEADER_BYTES, parseHeader, readHeaderLength, type ParsedHeader, type TensorEntry } from './store/header.js';
export { SafetensorsFile, MAX_VIEW_BYTES, type TensorInfo } from './store/safetensors.js';
export { SafetensorsWriter, layoutPlan, type WritePlan, type TensorPlan, type WriterOptions } from './store/writer.js';
export { WeightSet, openWeights, INDEX_NAME, SINGLE_NAME, type CheckpointFormat } from './store/checkpoint.js';
export { writeCheckpoint, planShards, copyCarriedFiles, CARRIED_FILES, type WriteCheckpointOptions, type WrittenCheckpoint } from './store/write-checkpoint.js';
export { type WeightSource, type TensorMeta } from './store/source.js';
export { tensorToArrow, weightsToArrowTable, toArrowIPC, fromArrowIPC, ArrowWeights, TABLE_SCHEMA, type TensorArrow } from './store/arrow.js';
export { scan, type TensorStats } from './store/scan.js';
export { inspect, type InspectResult } from './store/inspect.js';
export * as kernels from './kernels/index.js';
export { STRATEGIES, streamFor, type Strategy, type Granularity } from './kernels/strategies.js';
