// Small in-memory repos for the stand-in Hub (test/helpers/stand-in-hub.ts), shaped like the
// repos the real clients were observed on (hf-protocol.md §1.2-§1.5): a tiny model that
// AutoConfig/AutoTokenizer load (config.json + tokenizer files + an LFS .safetensors), a parquet
// dataset, a CSV dataset with a `refs/convert/parquet` branch, and a gated model.
import { makeBytes } from './bytes.js'
import type { HubFileSpec, HubRepoSpec } from './stand-in-hub.js'

export const TINY_MODEL = 'acme/tiny-model'
export const TINY_PARQUET = 'acme/tiny-parquet'
export const TINY_CSV = 'acme/tiny-csv'
export const GATED_MODEL = 'acme/gated-model'
export const GATED_TOKEN = 'hf_standInValidToken0123456789'
export const DEFAULT_SAFETENSORS_BYTES = 1024 * 1024

/**
 * A 4-row table (text: string, label: int64) written by pyarrow 25.0.1 with
 * `pq.write_table(pa.table({'text': ['alpha', 'beta', 'gamma', 'delta'], 'label': [0, 1, 0, 1]}), f, compression='none')`.
 * Embedded because Node has no parquet writer and a hand-written one would be the thing under test.
 */
export const TINY_PARQUET_BYTES = Buffer.from(
  'UEFSMRUEFUYVRkwVCBUAEgAABQAAAGFscGhhBAAAAGJldGEFAAAAZ2FtbWEFAAAAZGVsdGEVABUUFRQsFQgVEBUGFQYcNgAoBWdhbW1hGAVhbHBoYRERAAAAAgAAAAgBAgPkABUEFSAVIEwVBBUAEgAAAAAAAAAAAAABAAAAAAAAABUAFRIVEiwVCBUQFQYVBhwYCAEAAAAAAAAAGAgAAAAAAAAAABYAKAgBAAAAAAAAABgIAAAAAAAAAAAREQAAAAIAAAAIAQEDChUEGTw1ABgGc2NoZW1hFQQAFQwlAhgEdGV4dCUATBwAAAAVBCUCGAVsYWJlbAAWCBkcGSwmABwVDBk1AAYQGRgEdGV4dBUAFggWwAEWwAEmaiYIHDYAKAVnYW1tYRgFYWxwaGEREQAZLBUEFQAVAgAVABUQFQIAPBYmGQYZJgAIAAAAJgAcFQQZNQAGEBkYBWxhYmVsFQAWCBbMARbMASaEAibIARwYCAEAAAAAAAAAGAgAAAAAAAAAABYAKAgBAAAAAAAAABgIAAAAAAAAAAAREQAZLBUEFQAVAgAVABUQFQIAPCkGGSYACAAAABaMAxYIJggWjAMAGRwYDEFSUk9XOnNjaGVtYRj4AS8vLy8vN0FBQUFBUUFBQUFBQUFLQUF3QUJnQUZBQWdBQ2dBQUFBQUJCQUFNQUFBQUNBQUlBQUFBQkFBSUFBQUFCQUFBQUFJQUFBQlFBQUFBQkFBQUFNai8vLzhBQUFFQ0VBQUFBQ0FBQUFBRUFBQUFBQUFBQUFVQUFBQnNZV0psYkFBQUFBZ0FEQUFJQUFjQUNBQUFBQUFBQUFGQUFBQUFFQUFVQUFnQUJnQUhBQXdBQUFBUUFCQUFBQUFBQUFFRkVBQUFBQndBQUFBRUFBQUFBQUFBQUFRQUFBQjBaWGgwQUFBQUFBUUFCQUFFQUFBQUFBQUFBQT09ABggcGFycXVldC1jcHAtYXJyb3cgdmVyc2lvbiAyNS4wLjEZLBwAABwAAAAvAgAAUEFSMQ==',
  'base64')

export const TINY_CSV_TEXT = 'text,label\nalpha,0\nbeta,1\ngamma,0\ndelta,1\n'

const TOKENIZER_JSON = '{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":{"type":"Lowercase"},"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,"model":{"type":"WordLevel","vocab":{"[PAD]":0,"[UNK]":1,"[CLS]":2,"[SEP]":3,"hello":4,"world":5,"the":6,"mirror":7,"caches":8,"bytes":9},"unk_token":"[UNK]"}}'

/**
 * A valid safetensors file (8-byte little-endian header length, JSON header, data) of about
 * `bytes` bytes: one F32 tensor of seeded bytes, so two sizes or seeds give two different blobs.
 */
export function safetensors (bytes: number, seed = 1): Buffer {
  const floats = Math.max(1, Math.floor(bytes / 4))
  let header = JSON.stringify({ weight: { dtype: 'F32', shape: [floats], data_offsets: [0, floats * 4] }, __metadata__: { format: 'pt' } })
  // The header is padded with spaces to a multiple of 8, as the reference writer does.
  header += ' '.repeat((8 - (header.length % 8)) % 8)
  const length = Buffer.alloc(8)
  length.writeBigUInt64LE(BigInt(header.length))
  // Seeded bytes are random floats, some NaN; the loaders here never read the values.
  return Buffer.concat([length, Buffer.from(header), makeBytes(floats * 4, seed)])
}

export function tinyModelFiles (opts: { safetensorsBytes?: number, seed?: number } = {}): HubFileSpec[] {
  return [
    { path: '.gitattributes', body: '*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.parquet filter=lfs diff=lfs merge=lfs -text\n' },
    { path: 'README.md', body: '---\nlicense: mit\n---\n# tiny-model\nA stand-in model for dsmirror tests.\n' },
    {
      path: 'config.json',
      body: JSON.stringify({ model_type: 'bert', architectures: ['BertModel'], hidden_size: 8, num_attention_heads: 2, num_hidden_layers: 1, intermediate_size: 16, vocab_size: 10, max_position_embeddings: 32 }, null, 2) + '\n'
    },
    { path: 'tokenizer.json', body: TOKENIZER_JSON },
    { path: 'tokenizer_config.json', body: JSON.stringify({ tokenizer_class: 'PreTrainedTokenizerFast', unk_token: '[UNK]', pad_token: '[PAD]', cls_token: '[CLS]', sep_token: '[SEP]', model_max_length: 32 }) + '\n' },
    { path: 'special_tokens_map.json', body: JSON.stringify({ unk_token: '[UNK]', pad_token: '[PAD]', cls_token: '[CLS]', sep_token: '[SEP]' }) + '\n' },
    { path: 'model.safetensors', body: safetensors(opts.safetensorsBytes ?? DEFAULT_SAFETENSORS_BYTES, opts.seed ?? 1), lfs: true }
  ]
}

export function tinyModelRepo (opts: { id?: string, safetensorsBytes?: number, seed?: number } = {}): HubRepoSpec {
  return { id: opts.id ?? TINY_MODEL, files: tinyModelFiles(opts) }
}

export function tinyParquetRepo (): HubRepoSpec {
  return {
    id: TINY_PARQUET,
    type: 'dataset',
    files: [
      { path: '.gitattributes', body: '*.parquet filter=lfs diff=lfs merge=lfs -text\n' },
      { path: 'README.md', body: '---\nlicense: mit\n---\n# tiny-parquet\n' },
      { path: 'data/train-00000-of-00001.parquet', body: TINY_PARQUET_BYTES, lfs: true }
    ]
  }
}

/** A CSV dataset with no README (the client then asks /api/datasets/{repo}, §1.4) and the parquet-converter branch. */
export function tinyCsvRepo (): HubRepoSpec {
  return {
    id: TINY_CSV,
    type: 'dataset',
    files: [
      { path: '.gitattributes', body: '*.parquet filter=lfs diff=lfs merge=lfs -text\n' },
      { path: 'data.csv', body: TINY_CSV_TEXT }
    ],
    refs: {
      'refs/convert/parquet': [
        { path: '.gitattributes', body: '*.parquet filter=lfs diff=lfs merge=lfs -text\n' },
        { path: 'default/train/0000.parquet', body: TINY_PARQUET_BYTES, lfs: true }
      ]
    }
  }
}

export function gatedModelRepo (): HubRepoSpec {
  return { ...tinyModelRepo({ id: GATED_MODEL, seed: 9 }), gated: 'manual', tokens: [GATED_TOKEN] }
}

/** Every fixture repo. */
export function allFixtureRepos (opts: { safetensorsBytes?: number } = {}): HubRepoSpec[] {
  return [tinyModelRepo(opts), tinyParquetRepo(), tinyCsvRepo(), gatedModelRepo()]
}
