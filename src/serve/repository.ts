// The model repository: `<root>/<model>/<version>/` directories (TF Serving / Triton layout) with an
// optional `<root>/<model>/config.json`, or one ONNX file served as model "default". Versions are kept
// per the version policy; polling loads new versions and unloads removed ones once their requests finish.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { loadServedModel, readConfig, type ModelConfig, type ServedModel } from "./model.js";
import { ServeError, type RepositoryEntry } from "./types.js";

interface Version {
  state: RepositoryEntry["state"];
  reason: string;
  model: ServedModel | null;
  inflight: number;
  /** Resolves when the last in-flight request of an unloading version finishes. */
  drained: (() => void) | null;
  /** The files' newest modification time when loading failed: a retry waits for a change (a copy finishing). */
  failedStamp?: number;
}

function stamp(path: string): number {
  try {
    const st = statSync(path);
    if (!st.isDirectory()) return st.mtimeMs;
    return Math.max(st.mtimeMs, ...readdirSync(path).map((f) => statSync(join(path, f)).mtimeMs));
  } catch {
    return -1;
  }
}

export interface RepositoryOptions {
  /** Rescan the directory this often (ms); 0 disables polling. */
  pollIntervalMs?: number;
  /** Policy for models whose config gives none (default: the latest 1). */
  versionPolicy?: ModelConfig["versionPolicy"];
  /** Models not to load at start (repository extension `load` brings them in). */
  explicit?: boolean;
  /** Called when a version fails to load (the server logs it; the version stays UNAVAILABLE). */
  onError?: (model: string, version: string, err: Error) => void;
}

/** A model version borrowed for one request: `release()` when done. */
export interface Lease {
  model: ServedModel;
  release(): void;
}

const isVersionDir = (d: string) => /^[1-9]\d*$/.test(d);

export class ModelRepository {
  private readonly models = new Map<string, Map<string, Version>>();
  private readonly configs = new Map<string, ModelConfig>();
  private readonly unloaded = new Set<string>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private scanning: Promise<void> | null = null;

  /** `source`: a repository directory, or one .onnx file (model "default", version "1"). */
  constructor(
    readonly source: string,
    readonly opts: RepositoryOptions = {},
  ) {
    if (!existsSync(source)) throw new ServeError(400, `model repository ${source} does not exist`);
  }

  private get single(): boolean {
    return this.source.endsWith(".onnx") && statSync(this.source).isFile();
  }

  /** Load what the repository holds now, then poll if asked. */
  async start(): Promise<void> {
    if (this.opts.explicit) for (const m of this.modelNames()) this.unloaded.add(m);
    await this.scan();
    const every = this.opts.pollIntervalMs ?? 0;
    if (every > 0) {
      this.timer = setInterval(() => void this.scan(), every);
      this.timer.unref?.();
    }
  }

  /** Stop polling and unload everything once in-flight requests finish. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.scanning;
    await Promise.all([...this.models.keys()].map((m) => this.unloadModel(m)));
  }

  /** Model names on disk. */
  modelNames(): string[] {
    if (this.single) return ["default"];
    return readdirSync(this.source).filter((d) => {
      try {
        return statSync(join(this.source, d)).isDirectory() && !d.startsWith(".");
      } catch {
        return false;
      }
    }).sort();
  }

  /** Versions on disk that the policy keeps, newest first. */
  private wantedVersions(name: string, cfg: ModelConfig): string[] {
    if (this.single) return ["1"];
    const dir = join(this.source, name);
    let all: number[];
    try {
      all = readdirSync(dir).filter(isVersionDir).filter((v) => statSync(join(dir, v)).isDirectory()).map(Number).sort((a, b) => b - a);
    } catch {
      return [];
    }
    const policy = cfg.versionPolicy ?? this.opts.versionPolicy ?? { latest: 1 };
    if ("all" in policy) return all.map(String);
    if ("specific" in policy) return all.filter((v) => policy.specific.includes(v)).map(String);
    return all.slice(0, Math.max(1, policy.latest)).map(String);
  }

  /** Bring the loaded set in line with the disk: load new versions, unload ones gone or out of policy. */
  scan(): Promise<void> {
    this.scanning ??= this.doScan().finally(() => (this.scanning = null));
    return this.scanning;
  }

  private async doScan(): Promise<void> {
    const names = this.modelNames();
    for (const name of names) {
      if (this.unloaded.has(name)) continue;
      await this.syncModel(name);
    }
    for (const name of [...this.models.keys()]) if (!names.includes(name)) await this.unloadModel(name);
  }

  private async syncModel(name: string): Promise<void> {
    let cfg: ModelConfig;
    try {
      cfg = this.single ? {} : readConfig(join(this.source, name));
    } catch (e) {
      this.opts.onError?.(name, "", e as Error);
      return;
    }
    this.configs.set(name, cfg);
    const want = this.wantedVersions(name, cfg);
    const have = this.models.get(name) ?? new Map<string, Version>();
    this.models.set(name, have);
    for (const v of want) {
      const cur = have.get(v);
      const path = this.single ? this.source : join(this.source, name, v);
      if (cur && cur.state !== "UNAVAILABLE") continue;
      if (cur?.failedStamp !== undefined && cur.failedStamp === stamp(path)) continue;
      const entry: Version = { state: "LOADING", reason: "", model: null, inflight: 0, drained: null };
      have.set(v, entry);
      try {
        entry.model = await loadServedModel(name, v, path, cfg);
        entry.state = "READY";
      } catch (e) {
        entry.state = "UNAVAILABLE";
        entry.reason = (e as Error).message;
        entry.failedStamp = stamp(path);
        this.opts.onError?.(name, v, e as Error);
      }
    }
    for (const [v, entry] of have) if (!want.includes(v) && entry.state === "READY") await this.retire(name, v, entry);
  }

  /** Stop routing to a version and unload it when its in-flight requests are done. */
  private async retire(name: string, v: string, entry: Version): Promise<void> {
    entry.state = "UNLOADING";
    if (entry.inflight > 0) await new Promise<void>((r) => (entry.drained = r));
    entry.model?.dispose();
    entry.model = null;
    this.models.get(name)?.delete(v);
  }

  private async unloadModel(name: string): Promise<void> {
    const have = this.models.get(name);
    if (!have) return;
    await Promise.all([...have].map(([v, e]) => (e.state === "READY" ? this.retire(name, v, e) : (have.delete(v), undefined))));
    this.models.delete(name);
  }

  /** Repository extension: (re)load a model from disk. */
  async load(name: string): Promise<void> {
    if (!this.modelNames().includes(name)) throw new ServeError(404, `model "${name}" is not in the repository`);
    this.unloaded.delete(name);
    const have = this.models.get(name);
    if (have) for (const [v, e] of have) if (e.state === "UNAVAILABLE") have.delete(v);
    await this.syncModel(name);
    const ready = [...(this.models.get(name)?.values() ?? [])].some((e) => e.state === "READY");
    if (!ready) {
      const reason = [...(this.models.get(name)?.values() ?? [])].map((e) => e.reason).filter(Boolean).join("; ");
      throw new ServeError(400, `model "${name}" failed to load${reason ? `: ${reason}` : " (no version directory)"}`);
    }
  }

  /** Repository extension: unload a model (its in-flight requests finish first). */
  async unload(name: string): Promise<void> {
    if (!this.models.has(name) && !this.modelNames().includes(name)) throw new ServeError(404, `model "${name}" is not in the repository`);
    this.unloaded.add(name);
    await this.unloadModel(name);
  }

  /** Every model and version with its state (repository extension's index). */
  index(): RepositoryEntry[] {
    const out: RepositoryEntry[] = [];
    for (const name of this.modelNames()) {
      const have = this.models.get(name);
      if (!have || have.size === 0) {
        out.push({ name, state: "UNAVAILABLE", reason: this.unloaded.has(name) ? "unloaded" : "no version loaded" });
        continue;
      }
      for (const [v, e] of [...have].sort((a, b) => Number(b[0]) - Number(a[0]))) out.push({ name, version: v, state: e.state, reason: e.reason });
    }
    return out;
  }

  /** Ready versions of a model, newest first. */
  readyVersions(name: string): string[] {
    const have = this.models.get(name);
    if (!have) return [];
    return [...have].filter(([, e]) => e.state === "READY").map(([v]) => v).sort((a, b) => Number(b) - Number(a));
  }

  /** The model's config (after the first scan). */
  config(name: string): ModelConfig | undefined {
    return this.configs.get(name);
  }

  /** Whether a model (or one version) can take requests. */
  isReady(name: string, version?: string): boolean {
    const e = version === undefined ? undefined : this.models.get(name)?.get(version);
    return version === undefined ? this.readyVersions(name).length > 0 : e?.state === "READY";
  }

  /** Borrow a ready version (the newest when none is named) for one request. */
  acquire(name: string, version?: string): Lease {
    const have = this.models.get(name);
    if (!have && !this.modelNames().includes(name)) throw new ServeError(404, `unknown model "${name}"`);
    const v = version ?? this.readyVersions(name)[0];
    const e = v === undefined ? undefined : have?.get(v);
    if (!e) throw new ServeError(404, version === undefined ? `model "${name}" has no ready version` : `unknown version "${version}" of model "${name}"`);
    if (e.state !== "READY" || !e.model) throw new ServeError(version === undefined ? 503 : 404, `version "${v}" of model "${name}" is ${e.state.toLowerCase()}`);
    e.inflight++;
    let done = false;
    return {
      model: e.model,
      release: () => {
        if (done) return;
        done = true;
        if (--e.inflight === 0 && e.drained) e.drained();
      },
    };
  }
}
