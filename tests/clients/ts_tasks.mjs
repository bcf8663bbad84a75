// A 2025-11-25 client with tasks (the official TypeScript SDK 1.x, experimental tasks API)
// against Baton, for crates/baton/tests/it/tasks_legacy.rs. One JSON argument:
//   {"sdk": DIR, "url": URL, "key": KEY}              streamable HTTP (bearer KEY if given)
//   {"sdk": DIR, "url": URL, "key": KEY, "sse": true} legacy HTTP+SSE
//   {"sdk": DIR, "command": BIN, "args": [...]}       stdio
// plus "scenario" and its fields. Prints one JSON report line; any failure exits 1 with
// the error on stderr.
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const options = JSON.parse(process.argv[2]);
const sdk = (file) => import(pathToFileURL(path.join(options.sdk, 'dist/esm', file)).href);
const { Client } = await sdk('client/index.js');
const { StdioClientTransport } = await sdk('client/stdio.js');
const { StreamableHTTPClientTransport } = await sdk('client/streamableHttp.js');
const { SSEClientTransport } = await sdk('client/sse.js');
const types = await sdk('types.js');

function transport() {
  if (options.url) {
    const headers = options.key ? { Authorization: `Bearer ${options.key}` } : {};
    if (options.sse) return new SSEClientTransport(new URL(options.url), { requestInit: { headers } });
    return new StreamableHTTPClientTransport(new URL(options.url), { requestInit: { headers } });
  }
  return new StdioClientTransport({ command: options.command, args: options.args, stderr: 'inherit' });
}

const statuses = [];
const elicitations = [];
const client = new Client(
  { name: 'ts-tasks-test', version: '1.0.0' },
  { capabilities: { elicitation: {}, tasks: { list: {}, cancel: {} } } },
);
client.setNotificationHandler(types.TaskStatusNotificationSchema, (note) => {
  statuses.push({ taskId: note.params.taskId, status: note.params.status });
});
client.setRequestHandler(types.ElicitRequestSchema, async (request) => {
  elicitations.push(request.params);
  return { action: 'accept', content: options.answer ?? {} };
});
await client.connect(transport());

async function errorOf(promise) {
  try {
    await promise;
    return null;
  } catch (error) {
    return { code: error.code, message: error.message };
  }
}

// Runs a tool as a task through the SDK's own loop (create, poll, tasks/result).
async function stream(name, args, options = undefined) {
  const seen = [];
  let result = null;
  let error = null;
  let taskId = null;
  const stream = client.experimental.tasks.callToolStream({ name, arguments: args }, undefined, options);
  for await (const message of stream) {
    seen.push(message.type === 'taskStatus' ? `status:${message.task.status}` : message.type);
    if (message.type === 'taskCreated') taskId = message.task.taskId;
    if (message.type === 'result') result = message.result;
    if (message.type === 'error') error = { code: message.error.code, message: message.error.message };
  }
  return { seen, result, error, taskId };
}

async function createTask(name, args, ttl) {
  const created = await client.request(
    { method: 'tools/call', params: { name, arguments: args, task: { ttl } } },
    types.CreateTaskResultSchema,
  );
  return created.task;
}

const scenarios = {
  async flow() {
    const tools = (await client.listTools()).tools;
    const execution = Object.fromEntries(tools.map((tool) => [tool.name, tool.execution?.taskSupport ?? null]));
    const capabilities = client.getServerCapabilities().tasks ?? null;
    const done = await stream(options.tool, options.arguments);
    const got = await client.experimental.tasks.getTask(done.taskId);
    const long = await createTask(options.long_tool, options.long_arguments, 60000);
    const listed = (await client.experimental.tasks.listTasks()).tasks.map((task) => task.taskId);
    const cancelled = await client.experimental.tasks.cancelTask(long.taskId);
    const after = await client.experimental.tasks.getTask(long.taskId);
    const cancelAgain = await errorOf(client.experimental.tasks.cancelTask(long.taskId));
    const resultOfCancelled = await errorOf(
      client.experimental.tasks.getTaskResult(long.taskId, types.CallToolResultSchema),
    );
    const notATask = await errorOf(createTask(options.plain_tool, options.plain_arguments ?? {}, 1000));
    const unknown = await errorOf(client.experimental.tasks.getTask('no-such-task'));
    // Status notifications arrive on their own stream: wait (bounded) for the first task's end.
    const deadline = Date.now() + 10000;
    while (!statuses.some((s) => s.taskId === done.taskId && s.status === 'completed') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return {
      execution, capabilities, done, got, long, listed, cancelled, after, cancelAgain,
      resultOfCancelled, notATask, unknown, statuses,
    };
  },
  async input() {
    await client.listTools(); // the SDK calls a tool as a task only once it saw its execution
    const done = await stream(options.tool, options.arguments);
    return { done, elicitations };
  },
  async progress() {
    await client.listTools();
    const progress = [];
    const done = await stream(options.tool, options.arguments, {
      onprogress: (note) => progress.push({ progress: note.progress, total: note.total }),
    });
    return { done, progress };
  },
  async create() {
    return { task: await createTask(options.tool, options.arguments, 600000) };
  },
  async peek() {
    return {
      get: await errorOf(client.experimental.tasks.getTask(options.task)),
      listed: (await client.experimental.tasks.listTasks()).tasks.map((task) => task.taskId),
    };
  },
  async result() {
    const got = await client.experimental.tasks.getTask(options.task);
    const result = await client.experimental.tasks.getTaskResult(options.task, types.CallToolResultSchema);
    return { got, result };
  },
};

try {
  const report = await scenarios[options.scenario]();
  process.stdout.write(`${JSON.stringify(report)}\n`);
  await client.close();
  process.exit(0);
} catch (error) {
  process.stderr.write(`ts_tasks: ${error?.stack ?? error}\n`);
  process.exit(1);
}
