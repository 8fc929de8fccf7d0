#!/usr/bin/env node
// A gRPC client that bridge did not write: @grpc/grpc-js with @grpc/proto-loader, as a
// Node.js application would call a bridge sidecar. Used by tests/sidecar/test_clients.py.
//
//   node client.js --target unix:/run/bridge/sidecar.sock \
//       --proto shop/v1/legacy_shop.proto --include examples/legacy-shop/proto \
//       --method shop.v1.Pricing/LineTotal --request '{"unit_price_cents": 250, "quantity": 12}'
//   node client.js --target 127.0.0.1:50051 --health shop.v1.Pricing   # "" for the server
//
// --deadline-ms sets the call's deadline (default 5000; 0 calls without one).
// Prints one JSON line: the response (proto field names, int64 as strings, as the proto3
// JSON mapping has them), or {"code": N, "details": "...", "metadata": {...}} for a
// gRPC error status. Exit status: 0 for a response, 2 for an error status, 1 for a usage
// or loading error.
"use strict";

const path = require("node:path");
const { parseArgs } = require("node:util");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

function usage(message) {
  process.stderr.write(`client.js: ${message}\n`);
  process.exit(1);
}

function main() {
  let args;
  try {
    ({ values: args } = parseArgs({
      options: {
        target: { type: "string" },
        proto: { type: "string" },
        include: { type: "string", multiple: true, default: [] },
        method: { type: "string" },
        request: { type: "string", default: "{}" },
        health: { type: "string" },
        "deadline-ms": { type: "string", default: "5000" },
      },
    }));
  } catch (err) {
    usage(err.message);
  }
  if (!args.target) usage("--target is required (unix:/path, host:port, ipv4:a:p,b:p, dns:///name:port)");
  const deadlineMs = Number(args["deadline-ms"]);
  if (!(deadlineMs >= 0)) usage(`--deadline-ms ${args["deadline-ms"]}: give milliseconds, 0 for none`);

  let protoFile, includeDirs, method, request;
  if (args.health !== undefined) {
    protoFile = "health.proto";
    includeDirs = [__dirname];
    method = "grpc.health.v1.Health/Check";
    request = { service: args.health };
  } else {
    if (!args.proto || !args.method) usage("give --proto and --method (or --health SERVICE)");
    protoFile = args.proto;
    includeDirs = args.include.length ? args.include : [path.dirname(path.resolve(args.proto))];
    method = args.method;
    try {
      request = JSON.parse(args.request);
    } catch (err) {
      usage(`--request is not JSON: ${err.message}`);
    }
  }

  const slash = method.lastIndexOf("/");
  if (slash < 0) usage(`--method ${method}: give package.Service/Method`);
  const [service, name] = [method.slice(0, slash), method.slice(slash + 1)];
  let definition;
  try {
    definition = protoLoader.loadSync(protoFile, { ...LOADER_OPTIONS, includeDirs });
  } catch (err) {
    usage(`cannot load ${protoFile}: ${err.message}`);
  }
  const rpc = definition[service] && definition[service][name];
  if (!rpc || !rpc.path) usage(`${protoFile} has no rpc ${method}`);
  if (rpc.requestStream || rpc.responseStream) usage(`${method} is not unary`);

  const client = new grpc.Client(args.target, grpc.credentials.createInsecure());
  client.makeUnaryRequest(
    rpc.path,
    rpc.requestSerialize,
    rpc.responseDeserialize,
    request,
    new grpc.Metadata(),
    deadlineMs ? { deadline: Date.now() + deadlineMs } : {},
    (err, response) => {
      client.close();
      if (err) {
        const metadata = err.metadata ? err.metadata.getMap() : {};
        const text = {};
        for (const [key, value] of Object.entries(metadata)) text[key] = String(value);
        process.stdout.write(JSON.stringify({ code: err.code, details: err.details, metadata: text }) + "\n");
        process.exitCode = 2;
        return;
      }
      process.stdout.write(JSON.stringify(response) + "\n");
    },
  );
}

main();
