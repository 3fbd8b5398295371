// Offline checks of deploy/k8s and deploy/compose.yaml (run: `npm ci && node --test` in
// this folder; ctest runs it as deploy_manifests). Every Kubernetes object is validated
// against the Kubernetes OpenAPI schemas by kubernetes-models (the ServiceMonitor by the
// Prometheus operator's CRD schema); then the wiring between the files is checked: the
// StatefulSet's bootstrap address is its headless Service's DNS name and DHT port, the
// ports, probes, labels, annotations and volumes agree. No cluster or network is used.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const k8sDir = join(here, "..");
const deployDir = join(k8sDir, "..");

function readYaml(path) {
  const docs = parseAllDocuments(readFileSync(path, "utf8"));
  for (const d of docs) if (d.errors.length) throw new Error(`${path}: ${d.errors[0].message}`);
  return docs.map((d) => d.toJS()).filter((o) => o !== null);
}

const manifestFiles = readdirSync(k8sDir).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml").sort();
const objects = manifestFiles.flatMap((f) => readYaml(join(k8sDir, f)).map((o) => ({ file: f, o })));

// The model class of an object, from its apiVersion and kind.
async function modelOf(o) {
  const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : ["", o.apiVersion];
  const pkg = group === "monitoring.coreos.com" ? "@kubernetes-models/prometheus-operator" : "kubernetes-models";
  const path = group ? `${pkg}/${group}/${version}` : `${pkg}/${version}`;
  const mod = await import(path);
  if (!mod[o.kind]) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  return mod[o.kind];
}

async function validate(o) {
  const Model = await modelOf(o);
  new Model(o).validate();
}

const find = (kind, name) => objects.map((x) => x.o).find((o) => o.kind === kind && (!name || o.metadata.name === name));
const env = (container, name) => (container.env || []).find((e) => e.name === name)?.value;
const portOf = (hostPort) => Number(hostPort.slice(hostPort.lastIndexOf(":") + 1));
const hostOf = (hostPort) => hostPort.slice(0, hostPort.lastIndexOf(":"));
const selects = (selector, labels) => Object.entries(selector).every(([k, v]) => labels[k] === v);

test("every manifest validates against the Kubernetes schemas", async () => {
  assert.ok(objects.length >= 5, `expected the manifests, found ${objects.length} objects`);
  for (const { file, o } of objects) {
    await assert.doesNotReject(validate(o), `${file}: ${o.kind} ${o.metadata?.name}`);
  }
});

test("the validator rejects a broken manifest (it really checks)", async () => {
  const sts = structuredClone(find("StatefulSet"));
  sts.spec.template.spec.containers[0].ports[0].containerPort = "four thousand";
  await assert.rejects(validate(sts));
  const svc = structuredClone(find("Service"));
  svc.spec.ports[0].protocol = "QUIC";
  await assert.rejects(validate(svc));
});

test("kustomization lists existing manifests", () => {
  const [k] = readYaml(join(k8sDir, "kustomization.yaml"));
  for (const r of k.resources) assert.ok(manifestFiles.includes(r), `${r} listed but missing`);
  for (const needed of ["service.yaml", "statefulset.yaml", "pdb.yaml"]) assert.ok(k.resources.includes(needed));
});

test("the StatefulSet bootstraps from its headless Service's DNS name and ports", () => {
  const sts = find("StatefulSet");
  const svc = find("Service", sts.spec.serviceName);
  assert.ok(svc, `no Service named ${sts.spec.serviceName} (the StatefulSet's serviceName)`);
  assert.equal(svc.spec.clusterIP, "None", "the Service must be headless");
  assert.equal(svc.spec.publishNotReadyAddresses, true, "not-ready pods must be in DNS (readiness means joined)");
  assert.equal(sts.spec.podManagementPolicy, "Parallel");

  const pod = sts.spec.template;
  assert.ok(selects(svc.spec.selector, pod.metadata.labels), "the Service must select the pods");
  assert.ok(selects(sts.spec.selector.matchLabels, pod.metadata.labels));
  const c = pod.spec.containers[0];

  const bootstrap = env(c, "KADMIUM_BOOTSTRAP");
  assert.ok(bootstrap, "KADMIUM_BOOTSTRAP must be set");
  const host = hostOf(bootstrap);
  const name = svc.metadata.name;
  const ns = svc.metadata.namespace;
  const allowed = [name];
  if (ns) allowed.push(`${name}.${ns}`, `${name}.${ns}.svc`, `${name}.${ns}.svc.cluster.local`);
  else allowed.push(...["svc", "svc.cluster.local"].map((s) => `${name}.default.${s}`));
  assert.ok(allowed.includes(host), `bootstrap host ${host} is not the Service's DNS name (${allowed.join(", ")})`);

  const dhtPort = portOf(bootstrap);
  const svcUdp = svc.spec.ports.find((p) => p.protocol === "UDP" && p.port === dhtPort);
  assert.ok(svcUdp, `the Service has no UDP port ${dhtPort}`);
  const containerPort = (ref) =>
    c.ports.find((p) => (typeof ref === "string" ? p.name === ref : p.containerPort === ref));
  const cUdp = containerPort(svcUdp.targetPort ?? svcUdp.port);
  assert.ok(cUdp && cUdp.protocol === "UDP", "the Service's UDP port must target the container's UDP port");
  assert.equal(cUdp.containerPort, portOf(env(c, "KADMIUM_LISTEN")), "the node must listen on the port it is reached on");
  assert.equal(cUdp.containerPort, dhtPort, "headless Services reach pods on the container port");
  // Links (TCP) use the same port number as the DHT.
  const svcTcp = svc.spec.ports.find((p) => p.protocol === "TCP" && p.port === dhtPort);
  assert.ok(svcTcp, `the Service has no TCP port ${dhtPort} for links`);
  assert.equal(containerPort(svcTcp.targetPort ?? svcTcp.port)?.containerPort, dhtPort);
});

test("probes, metrics, volumes and security of the StatefulSet agree", () => {
  const sts = find("StatefulSet");
  const pod = sts.spec.template;
  const c = pod.spec.containers[0];
  const metricsPort = portOf(env(c, "KADMIUM_METRICS"));
  const named = (n) => c.ports.find((p) => p.name === n)?.containerPort;
  assert.equal(c.readinessProbe.httpGet.path, "/readyz");
  assert.equal(c.livenessProbe.httpGet.path, "/healthz");
  for (const probe of [c.readinessProbe, c.livenessProbe]) {
    const p = probe.httpGet.port;
    assert.equal(typeof p === "string" ? named(p) : p, metricsPort, "probes must use the metrics listener");
  }
  assert.equal(pod.metadata.annotations["prometheus.io/scrape"], "true");
  assert.equal(Number(pod.metadata.annotations["prometheus.io/port"]), metricsPort);
  assert.equal(pod.metadata.annotations["prometheus.io/path"], "/metrics");

  const mount = c.volumeMounts.find((m) => m.mountPath === env(c, "KADMIUM_DATA"));
  assert.ok(mount, "the data dir must be a mounted volume");
  assert.ok(sts.spec.volumeClaimTemplates.some((t) => t.metadata.name === mount.name), "the data volume must be a PVC template");

  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
  assert.equal(pod.spec.securityContext.runAsNonRoot, true);
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.cpu && c.resources.limits.memory);
  // The LMDB map must fit in the volume.
  const claim = sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage;
  assert.match(claim, /^\d+Gi$/);
  assert.ok(Number(env(c, "KADMIUM_MAP_SIZE_MB")) < parseInt(claim, 10) * 1024, "KADMIUM_MAP_SIZE_MB must fit the PVC");
});

test("the PodDisruptionBudget and ServiceMonitor select the nodes", () => {
  const pod = find("StatefulSet").spec.template;
  const svc = find("Service");
  const pdb = find("PodDisruptionBudget");
  assert.ok(selects(pdb.spec.selector.matchLabels, pod.metadata.labels));
  const sm = find("ServiceMonitor");
  assert.ok(selects(sm.spec.selector.matchLabels, svc.metadata.labels));
  for (const e of sm.spec.endpoints) assert.ok(svc.spec.ports.some((p) => p.name === e.port), `no Service port ${e.port}`);
});

test("the simulator Job runs kadmium-sim from the same image, locked down", () => {
  const job = find("Job");
  const c = job.spec.template.spec.containers[0];
  assert.equal(c.image, find("StatefulSet").spec.template.spec.containers[0].image);
  assert.equal(c.command[0], "/usr/bin/kadmium-sim");
  assert.equal(job.spec.template.spec.restartPolicy, "Never");
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
});

test("compose: nodes bootstrap from one another, Prometheus scrapes each", () => {
  const [compose] = readYaml(join(deployDir, "compose.yaml"));
  const nodes = Object.entries(compose.services).filter(([, s]) => (s.environment || {}).KADMIUM_LISTEN !== undefined);
  assert.ok(nodes.length >= 3, "at least three nodes");
  const names = nodes.map(([n]) => n);
  for (const [name, s] of nodes) {
    const e = s.environment;
    const port = portOf(e.KADMIUM_LISTEN);
    const others = e.KADMIUM_BOOTSTRAP.split(",").map((b) => b.trim());
    assert.ok(others.length >= 2, `${name} needs more than one bootstrap address`);
    for (const b of others) {
      assert.ok(names.includes(hostOf(b)), `${name}: bootstrap ${b} is not a node service`);
      assert.equal(portOf(b), port);
    }
    assert.ok(s.volumes.some((v) => v.endsWith(":" + e.KADMIUM_DATA)), `${name}: the data dir must be a volume`);
  }
  const [prom] = readYaml(join(deployDir, "compose", "prometheus.yml"));
  const targets = prom.scrape_configs.flatMap((j) => (j.static_configs || []).flatMap((s) => s.targets));
  for (const [name, s] of nodes) assert.ok(targets.includes(`${name}:${portOf(s.environment.KADMIUM_METRICS)}`), `${name} not scraped`);
});
