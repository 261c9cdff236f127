// Runs request documents through the csplease lease module in Node.js (V8), using nothing but
// the module's documented ABI: no bindings, no generated glue.
//
//   node run-vectors.mjs MODULE.wasm REQUESTS DECISIONS
//
// REQUESTS holds the request documents, each as a 4-byte little-endian length and the bytes;
// DECISIONS receives the decision documents in the same framing and order.
import { readFileSync, writeFileSync } from "node:fs";

const [wasmPath, requestsPath, decisionsPath] = process.argv.slice(2);
const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), {}); // no imports
const { memory, abi_version, alloc, dealloc, evaluate } = instance.exports;
if (abi_version() !== 1) throw new Error(`module speaks ABI ${abi_version()}, this runner speaks 1`);

const requests = readFileSync(requestsPath);
const out = [];
for (let at = 0; at < requests.length; ) {
  const len = requests.readUInt32LE(at);
  const request = requests.subarray(at + 4, at + 4 + len);
  at += 4 + len;

  const ptr = alloc(len) >>> 0; // the caller owns this buffer
  if (ptr === 0) throw new Error(`alloc(${len}) failed`);
  new Uint8Array(memory.buffer, ptr, len).set(request); // memory.buffer may be new after alloc
  const packed = BigInt.asUintN(64, evaluate(ptr, len)); // i64 arrives as a BigInt
  const dptr = Number(packed >> 32n);
  const dlen = Number(packed & 0xffffffffn);
  const decision = Buffer.from(new Uint8Array(memory.buffer, dptr, dlen)); // a copy
  dealloc(dptr, dlen); // the decision buffer is the caller's to give back
  dealloc(ptr, len); // and so is the request buffer

  const head = Buffer.alloc(4);
  head.writeUInt32LE(dlen);
  out.push(head, decision);
}
writeFileSync(decisionsPath, Buffer.concat(out));
