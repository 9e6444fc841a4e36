#!/usr/bin/env node
// The published entry: the compiled CLI (built by `npm ci` through the `prepare` script).
import '../dist/server/cli/cli.js'
