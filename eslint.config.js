import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'node_modules/**', '.tap/**', 'coverage/**', 'bench/work/**'] }),
  {
    rules: {
      // Streams and sockets are closed from callbacks; a floating promise there is a bug.
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
