// Offline stand-in for Prisma's native query-engine binary, for prisma-client-py (LiteLLM's DB layer).
//
// prisma-client-py 0.15 spawns `<query-engine> -p PORT ...` with PRISMA_DML_PATH and talks HTTP
// using Prisma's old GraphQL protocol. The native binary is only downloadable from Prisma's CDN;
// npm does ship the very same engine commit compiled to WebAssembly (@prisma/query-engine-wasm),
// which speaks the JSON protocol over a JS driver adapter (@prisma/adapter-pg + pg). This server
// translates each GraphQL request into the JSON protocol, runs it on the wasm engine and
// returns the answer in the shape prisma-client-py expects (`{"data": {"result": ...}}`).
import fs from "node:fs";
import http from "node:http";

import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import { bindAdapter } from "@prisma/driver-adapter-utils";

// ---------------------------------------------------------------------------- arguments / env
const argv = process.argv.slice(2);
let port = 0;
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "-p" || argv[i] === "--port") port = Number(argv[++i]);
}
const debug = !!process.env.QE_SHIM_DEBUG;
const log = (...a) => { if (debug) console.error("[qe-shim]", ...a); };

let datamodel = fs.readFileSync(process.env.PRISMA_DML_PATH, "utf8");
let databaseUrl = process.env.DATABASE_URL;
if (process.env.OVERWRITE_DATASOURCES) {
  try {
    const over = JSON.parse(process.env.OVERWRITE_DATASOURCES);
    if (Array.isArray(over) && over.length && over[0].url) databaseUrl = over[0].url;
  } catch (e) { /* ignore */ }
}
if (!databaseUrl) {
  const m = datamodel.match(/url\s*=\s*env\("([^"]+)"\)/);
  if (m) databaseUrl = process.env[m[1]];
}
// The wasm engine only runs with driver adapters.
if (!/previewFeatures/.test(datamodel)) {
  datamodel = datamodel.replace(/generator\s+(\w+)\s*\{/, (s) => `${s}\n  previewFeatures = ["driverAdapters"]`);
}

// -------------------------------------------------------------------------- datamodel types
// GraphQL sent Json field values as JSON-encoded strings; the JSON protocol needs them tagged
// ({"$type": "Json", "value": "..."}) or it stores a JSON *string*. So we need field types.
const MODELS = {};
{
  let current = null;
  for (const raw of datamodel.split("\n")) {
    const line = raw.replace(/\/\/.*$/, "").trim();
    const open = /^model\s+(\w+)\s*\{/.exec(line);
    if (open) { current = MODELS[open[1]] = {}; continue; }
    if (line.startsWith("}")) { current = null; continue; }
    if (!current || !line || line.startsWith("@@")) continue;
    const f = /^(\w+)\s+(\w+)(\[\])?(\?)?/.exec(line);
    if (f) current[f[1]] = { type: f[2], list: !!f[3] };
  }
}

const jsonTag = (v) => (typeof v === "string" ? { $type: "Json", value: v } : v);

function convertData(model, data) {
  if (Array.isArray(data)) return data.map((d) => convertData(model, d));
  if (!data || typeof data !== "object" || !MODELS[model]) return data;
  const out = {};
  for (const [k, v] of Object.entries(data)) {
    const field = MODELS[model][k];
    if (field && field.type === "Json") out[k] = jsonTag(v);
    else if (field && MODELS[field.type] && v && typeof v === "object") out[k] = convertNested(field.type, v);
    else out[k] = v;
  }
  return out;
}

function convertNested(model, ops) {
  const out = {};
  for (const [op, v] of Object.entries(ops)) {
    if (op === "create" || op === "update" && !(v && v.data)) out[op] = convertData(model, v);
    else if (op === "createMany") out[op] = { ...v, data: convertData(model, v.data) };
    else if (op === "upsert") out[op] = { ...v, create: convertData(model, v.create), update: convertData(model, v.update) };
    else if (op === "connectOrCreate") out[op] = { ...v, create: convertData(model, v.create) };
    else if ((op === "update" || op === "updateMany") && v && v.data) out[op] = { ...v, data: convertData(model, v.data) };
    else out[op] = v;
  }
  return out;
}

function convertWhere(model, where) {
  if (Array.isArray(where)) return where.map((w) => convertWhere(model, w));
  if (!where || typeof where !== "object" || !MODELS[model]) return where;
  const out = {};
  for (const [k, v] of Object.entries(where)) {
    const field = MODELS[model][k];
    if (k === "AND" || k === "OR" || k === "NOT") out[k] = convertWhere(model, v);
    else if (field && field.type === "Json" && v && typeof v === "object") {
      out[k] = { ...v };
      for (const op of ["equals", "not"]) if (op in v) out[k][op] = jsonTag(v[op]);
    } else if (field && MODELS[field.type] && v && typeof v === "object") {
      out[k] = {};
      for (const [op, w] of Object.entries(v)) out[k][op] = convertWhere(field.type, w);
    } else out[k] = v;
  }
  return out;
}

function convertArgs(model, action, args) {
  const out = { ...args };
  if (out.where) out.where = convertWhere(model, out.where);
  if (out.data) out.data = convertData(model, out.data);
  if (action === "upsertOne") {
    if (out.create) out.create = convertData(model, out.create);
    if (out.update) out.update = convertData(model, out.update);
  }
  return out;
}

// --------------------------------------------------------------------------- GraphQL -> JSON
function tokenize(src) {
  const tokens = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s|,/.test(c)) { i++; continue; }
    if ("{}()[]:".includes(c)) { tokens.push({ t: c }); i++; continue; }
    if (c === '"') {
      let j = i + 1;
      while (src[j] !== '"') { if (src[j] === "\\") j++; j++; }
      tokens.push({ t: "str", v: JSON.parse(src.slice(i, j + 1)) });
      i = j + 1; continue;
    }
    const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(src.slice(i));
    if (m && (c === "-" || /\d/.test(c))) { tokens.push({ t: "num", v: Number(m[0]) }); i += m[0].length; continue; }
    const n = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (n) { tokens.push({ t: "name", v: n[0] }); i += n[0].length; continue; }
    throw new Error(`unexpected character ${c} in query`);
  }
  return tokens;
}

class Parser {
  constructor(src) { this.tk = tokenize(src); this.i = 0; }
  peek() { return this.tk[this.i]; }
  next() { return this.tk[this.i++]; }
  expect(t) { const x = this.next(); if (!x || x.t !== t) throw new Error(`expected ${t}`); return x; }
  value() {
    const x = this.next();
    if (x.t === "str" || x.t === "num") return x.v;
    if (x.t === "name") {
      if (x.v === "true") return true;
      if (x.v === "false") return false;
      if (x.v === "null") return null;
      return x.v; // bare enum value
    }
    if (x.t === "{") {
      const obj = {};
      while (this.peek().t !== "}") {
        const k = this.expect("name").v; this.expect(":"); obj[k] = this.value();
      }
      this.next(); return obj;
    }
    if (x.t === "[") {
      const arr = [];
      while (this.peek().t !== "]") arr.push(this.value());
      this.next(); return arr;
    }
    throw new Error(`unexpected token ${x.t}`);
  }
  args() {
    const out = {};
    if (this.peek() && this.peek().t === "(") {
      this.next();
      while (this.peek().t !== ")") { const k = this.expect("name").v; this.expect(":"); out[k] = this.value(); }
      this.next();
    }
    return out;
  }
  selection() {
    const sel = {};
    this.expect("{");
    while (this.peek().t !== "}") {
      const name = this.expect("name").v;
      const args = this.args();
      if (this.peek() && this.peek().t === "{") {
        sel[name] = { arguments: args, selection: this.selection() };
      } else if (Object.keys(args).length) {
        sel[name] = { arguments: args, selection: { $scalars: true } };
      } else {
        sel[name] = true;
      }
    }
    this.next();
    return sel;
  }
}

const ACTIONS = [
  ["findUnique", "OrThrow", "findUniqueOrThrow"], ["findFirst", "OrThrow", "findFirstOrThrow"],
  ["findUnique", "", "findUnique"], ["findFirst", "", "findFirst"], ["findMany", "", "findMany"],
  ["createOne", "", "createOne"], ["createMany", "", "createMany"], ["updateOne", "", "updateOne"],
  ["updateMany", "", "updateMany"], ["deleteOne", "", "deleteOne"], ["deleteMany", "", "deleteMany"],
  ["upsertOne", "", "upsertOne"], ["aggregate", "", "aggregate"], ["groupBy", "", "groupBy"],
];

function toJsonQuery(gql) {
  const p = new Parser(gql);
  p.expect("name"); // query | mutation
  p.expect("{");
  p.expect("name"); p.expect(":"); // result:
  const field = p.expect("name").v;
  const args = p.args();
  const selection = p.peek() && p.peek().t === "{" ? p.selection() : {};
  if (field === "queryRaw" || field === "executeRaw") {
    return { action: field, query: { arguments: args, selection: {} } };
  }
  for (const [prefix, suffix, action] of ACTIONS) {
    if (field.startsWith(prefix) && field.endsWith(suffix) && field.length > prefix.length + suffix.length) {
      const modelName = field.slice(prefix.length, field.length - suffix.length);
      const sel = Object.keys(selection).length ? selection : { $scalars: true };
      return { modelName, action, query: { arguments: convertArgs(modelName, action, args), selection: sel } };
    }
  }
  throw new Error(`unsupported operation ${field}`);
}

// JSON-protocol answers tag DateTime/Decimal/BigInt/Json/Bytes values; the GraphQL protocol
// returned them as plain strings/numbers.
function untag(v) {
  if (Array.isArray(v)) return v.map(untag);
  if (v && typeof v === "object") {
    const keys = Object.keys(v);
    // (Json values stay JSON-encoded strings, as in the GraphQL protocol.)
    if (keys.length === 2 && "$type" in v && "value" in v) return v.value;
    const out = {};
    for (const k of keys) out[k] = untag(v[k]);
    return out;
  }
  return v;
}

function toGraphqlAnswer(answer) {
  if (answer.errors) return answer;
  if (answer.batchResult) return { batchResult: answer.batchResult.map(toGraphqlAnswer) };
  const data = answer.data || {};
  const key = Object.keys(data)[0];
  return { data: { result: untag(data[key]) } };
}

// ------------------------------------------------------------------------------ engine + HTTP
const { QueryEngine } = await loadWasm();

async function loadWasm() {
  const dir = new URL("./node_modules/@prisma/query-engine-wasm/postgresql/", import.meta.url);
  const bg = await import(new URL("query_engine_bg.js", dir));
  const bytes = fs.readFileSync(new URL("query_engine_bg.wasm", dir));
  const { instance } = await WebAssembly.instantiate(bytes, { "./query_engine_bg.js": bg });
  bg.__wbg_set_wasm(instance.exports);
  return bg;
}

const pool = new pg.Pool({ connectionString: databaseUrl, max: Number(process.env.QE_SHIM_POOL || 10) });
const adapter = bindAdapter(new PrismaPg(pool));
const engine = new QueryEngine(
  { datamodel, logLevel: debug ? "info" : "error", logQueries: false },
  (msg) => log(msg),
  adapter,
);
await engine.connect("{}");

function send(res, status, body, type = "application/json") {
  res.writeHead(status, { "content-type": type });
  res.end(typeof body === "string" ? body : JSON.stringify(body));
}

async function handle(req, body) {
  const url = new URL(req.url, "http://x");
  const txId = req.headers["x-transaction-id"] || undefined;
  if (req.method === "GET" && url.pathname === "/status") return [200, { status: "ok" }];
  if (url.pathname === "/metrics") {
    return url.searchParams.get("format") === "prometheus" ? [200, ""] : [200, { counters: [], gauges: [], histograms: [] }];
  }
  if (req.method === "POST" && url.pathname === "/transaction/start") {
    const opts = body ? JSON.parse(body) : {};
    const out = JSON.parse(await engine.startTransaction(JSON.stringify(opts), "{}"));
    return [out.errors ? 400 : 200, out];
  }
  let m = /^\/transaction\/([^/]+)\/(commit|rollback)$/.exec(url.pathname);
  if (req.method === "POST" && m) {
    const fn = m[2] === "commit" ? "commitTransaction" : "rollbackTransaction";
    const out = JSON.parse(await engine[fn](m[1], "{}"));
    return [out.errors ? 400 : 200, out];
  }
  if (req.method === "POST" && url.pathname === "/") {
    const request = JSON.parse(body);
    let jsonBody;
    if (request.batch) {
      jsonBody = {
        batch: request.batch.map((q) => toJsonQuery(q.query)),
        transaction: request.transaction ? {} : undefined,
      };
    } else {
      jsonBody = toJsonQuery(request.query);
    }
    log("request", JSON.stringify(jsonBody));
    const answer = JSON.parse(await engine.query(JSON.stringify(jsonBody), "{}", txId));
    log("answer", JSON.stringify(answer).slice(0, 2000));
    return [200, toGraphqlAnswer(answer)];
  }
  return [404, { errors: [{ error: "not found" }] }];
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    try {
      const [status, out] = await handle(req, Buffer.concat(chunks).toString("utf8"));
      send(res, status, out);
    } catch (e) {
      console.error("[qe-shim] error", e && e.stack ? e.stack : e);
      send(res, 200, { errors: [{ error: String(e && e.message ? e.message : e), user_facing_error: { message: String(e && e.message ? e.message : e) } }] });
    }
  });
});
server.listen(port, "127.0.0.1");
const stop = async () => { server.close(); try { await engine.disconnect("{}"); } catch {} await pool.end().catch(() => {}); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
