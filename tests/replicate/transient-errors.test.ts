// A publisher or follower starting while a NATS server rejoins its cluster: the cluster's
// JetStream API times out (or finds no responder, or answers 503) for a few seconds. Found by
// tests/replicate/followers-processes.test.ts with the server restarted while a writer
// recovered: the writer's startPublisher threw `TimeoutError` from its first stream lookup
// about one run in five. Setup requests are now retried while the failure is transient
// (src/replicate/nats-connection.ts); these tests pin which failures that is, with the
// client library's own error classes, and that anything else is thrown at once.
import { errors } from "@nats-io/nats-core";
import { JetStreamApiError } from "@nats-io/jetstream";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { isTransientJetStreamError, retryTransient } from "../../src/replicate/nats-connection.ts";
import { rejects } from "../harness/assert.ts";

const test = suite("replicate: transient JetStream errors");

const timeout = () => new errors.TimeoutError();
const noResponders = () => new errors.RequestError("no responders", { cause: new errors.NoRespondersError("$JS.API.STREAM.INFO.s") });
const apiError = (code: number, err_code: number) => new JetStreamApiError({ code, err_code, description: `api ${code}` });

test("a timeout, no responder and a 503 from the JetStream API are transient; a missing stream, a refusal and a closed connection are not", () => {
  assert.ok(isTransientJetStreamError(timeout()), "TimeoutError");
  assert.ok(isTransientJetStreamError(noResponders()), "RequestError caused by NoRespondersError");
  assert.ok(isTransientJetStreamError(apiError(503, 10008)), "JetStream API 503");
  assert.not.ok(isTransientJetStreamError(apiError(404, 10059)), "stream not found");
  assert.not.ok(isTransientJetStreamError(apiError(400, 10058)), "a refused request");
  assert.not.ok(isTransientJetStreamError(new errors.ClosedConnectionError()), "a closed connection");
  assert.not.ok(isTransientJetStreamError(new errors.RequestError("other", { cause: new Error("x") })), "a request error of another cause");
  assert.not.ok(isTransientJetStreamError(undefined));
});

test("retryTransient sends a step again while it times out, and returns its answer", async () => {
  let calls = 0;
  const answer = await retryTransient(Date.now() + 10_000, async () => {
    if (++calls < 3) throw timeout();
    return "info";
  });
  assert.is(answer, "info");
  assert.is(calls, 3);
});

test("retryTransient throws a lasting error at once, and a transient one once its deadline passed", async () => {
  let calls = 0;
  const notFound = apiError(404, 10059);
  const thrown = await rejects(() => retryTransient(Date.now() + 10_000, async () => {
    calls++;
    throw notFound;
  }));
  assert.is(thrown, notFound);
  assert.is(calls, 1, "not sent again");

  calls = 0;
  const started = Date.now();
  const late = await rejects(() => retryTransient(started + 600, async () => {
    calls++;
    throw timeout();
  }));
  assert.is(late.name, "TimeoutError");
  assert.ok(calls >= 2 && calls <= 5, `retried until the deadline (${calls} calls)`);
  assert.ok(Date.now() - started >= 600, "not given up before the deadline");
});

test.run();
