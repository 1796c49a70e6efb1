import { DEFAULT_TAG_FIELDS, type DefaultTags } from "@tollgate/events";
import { createInterner } from "@tollgate/kit";
import { type Following, type SqlStore, TablesFollower, VersionTable } from "@tollgate/sql";
import { digestsEqual, generateKey, parseKey, type Role, sha256Hex } from "./secrets";
import { BINDABLE_TAGS, type BindableTag } from "./tenancy";

export interface ApiKeyRecord {
  id: string;
  role: Role;
  name: string;
  /** The org the key is bound to (see tenancy.ts), or null. */
  org_id: string | null;
  /** Further tags the key is bound to: constraints, not defaults. */
  bound_tags: Partial<Record<BindableTag, string>>;
  default_tags: DefaultTags;
  created_at: string;
}

export interface Principal {
  keyId: string;
  role: Role;
  /** Fill in what a request leaves out. */
  defaultTags: DefaultTags;
  /** Constraints: the org and the bound tags; a request naming another value is refused. */
  boundTags: DefaultTags;
}

export const BOOTSTRAP_ADMIN_ID = "bootstrap-admin";

/** The operator: bound to nothing, sees and changes every org. */
const BOOTSTRAP_PRINCIPAL: Principal = Object.freeze({
  keyId: BOOTSTRAP_ADMIN_ID,
  role: "admin",
  defaultTags: Object.freeze({}),
  boundTags: Object.freeze({}),
});

const KEY_COLUMNS =
  "id, secret_sha256, role, name, default_tags, org_id, bound_tags, toUnixTimestamp(created_at) AS created_at, revoked, version";
const SELECT_KEYS = `SELECT ${KEY_COLUMNS}`;

interface StoredKey extends ApiKeyRecord {
  secretSha256: string;
  revoked: boolean;
  /** The tags the key binds, its org among them (shared among keys alike). */
  boundTags: DefaultTags;
}

interface Row {
  id: string;
  secret_sha256: string;
  role: Role;
  name: string;
  default_tags: string;
  org_id: string;
  bound_tags: string;
  created_at: number | string;
  revoked: number | string;
  version: number | string;
}

export interface CreateKeyInput {
  role: Role;
  name: string;
  default_tags: DefaultTags;
  org_id?: string | null;
  bound_tags?: Partial<Record<BindableTag, string>>;
}

/**
 * API keys, durable in the `api_keys` table (ClickHouse or chDB). Every
 * service keeps them in memory: read whole once, then followed by change
 * (TablesFollower: every `refreshMs`, default 1 s, only rows written since the
 * last look), so a key created or revoked on one service holds on the others
 * within that time, and an idle service costs the same with 10 keys or
 * 100,000. A key unknown to the cache is looked up once (a key created a
 * moment ago elsewhere), at most `maxConcurrentMisses` at a time so that
 * requests with made-up keys cannot flood the store.
 */
export class KeyStore {
  /**
   * Every key, packed into one string (see packKey): 100,000 keys are
   * 100,000 strings rather than ~700,000 objects and strings, which every
   * collection would mark — checks ran ~10 % slower beside them. The keys in
   * use are kept unpacked in `unpacked`.
   */
  private readonly keys = new Map<string, string>();
  private readonly unpacked = new Map<string, StoredKey>();
  /** The version held per key id (a revocation is a newer version). */
  private readonly versions = new VersionTable();
  private lastVersion = 0;
  private readonly recentMisses = new Map<string, number>();
  private inFlightMisses = 0;
  private readonly adminSha256: string;
  private readonly following: Following;

  constructor(
    private readonly store: SqlStore,
    adminKey: string,
    private readonly options: {
      refreshMs?: number;
      lookbackMs?: number;
      maxConcurrentMisses?: number;
      clock?: () => number;
    } = {},
  ) {
    this.adminSha256 = sha256Hex(adminKey);
    this.following = new TablesFollower(store, {
      pollMs: options.refreshMs ?? 1_000,
      ...(options.lookbackMs !== undefined ? { lookbackMs: options.lookbackMs } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
    }).add<Row>({
      table: "api_keys",
      columns: KEY_COLUMNS,
      // Key versions are milliseconds (see nextVersion).
      versionPerMs: 1,
      apply: (rows) => {
        for (const row of rows) {
          // Rows read again inside the lookback are skipped before they are parsed.
          const held = this.versions.get(row.id);
          if (held === undefined || held < Number(row.version)) this.hold(fromRow(row), Number(row.version));
        }
      },
    });
  }

  start(): Promise<void> {
    return this.following.start();
  }

  stop(): void {
    this.following.stop();
  }

  /** Reads what changed since the last look (the follower does so every `refreshMs`). */
  refresh(): Promise<void> {
    return this.following.poll();
  }

  /**
   * Keeps `key` unless a newer version is held already: a read that began
   * before this process created or revoked a key cannot undo that (a new
   * key missing, a revoked one live again, until the next look).
   */
  private hold(key: StoredKey, version: number): void {
    const held = this.versions.get(key.id);
    if (held !== undefined && held >= version) return;
    this.versions.set(key.id, version);
    this.lastVersion = Math.max(this.lastVersion, version);
    this.keys.set(key.id, packKey(key));
    this.unpacked.delete(key.id);
    this.live = null;
  }

  private live: ApiKeyRecord[] | null = null;

  /** Newer than any version this process wrote or read, and than the clock (ms): create < revoke. */
  private nextVersion(): number {
    this.lastVersion = Math.max(this.now(), this.lastVersion + 1);
    return this.lastVersion;
  }

  /**
   * SHA-256 of what agents present on every request, remembered for the
   * few thousand most recent ones: an agent sends the same key for each
   * check, and hashing it each time was a visible share of a check's CPU.
   * Only digests are compared; revocation is still read from the record.
   */
  private readonly digests = new Map<string, string>();
  private digest(text: string): string {
    let hex = this.digests.get(text);
    if (hex === undefined) {
      if (this.digests.size >= 4_096) this.digests.clear();
      hex = sha256Hex(text);
      this.digests.set(text, hex);
    }
    return hex;
  }

  /** The principal a presented bearer token stands for, or null. */
  async authenticate(token: string): Promise<Principal | null> {
    if (digestsEqual(this.digest(token), this.adminSha256)) {
      return BOOTSTRAP_PRINCIPAL;
    }
    const parsed = parseKey(token);
    if (!parsed) return null;
    const stored = this.held(parsed.id) ?? (await this.lookupMiss(parsed.id));
    if (!stored || stored.revoked) return null;
    if (!digestsEqual(this.digest(parsed.secret), stored.secretSha256)) return null;
    return principalOf(stored);
  }

  /**
   * What a console session keeps instead of the key it signed in with: the
   * key's id and a digest of its stored hash (not a credential: signing in
   * needs the secret itself). `principalOfSessionRef` gives the principal
   * back while the key is live and unchanged, so revoking a key ends its
   * sessions, and replacing the bootstrap key ends the operator's.
   */
  sessionRef(principal: Principal): string | null {
    if (principal === BOOTSTRAP_PRINCIPAL) return `${BOOTSTRAP_ADMIN_ID}:${sha256Hex(this.adminSha256)}`;
    const stored = this.held(principal.keyId);
    return stored && !stored.revoked ? `${stored.id}:${sha256Hex(stored.secretSha256)}` : null;
  }

  /** The principal of a session's key (see sessionRef), or null once the key is revoked or replaced. */
  async principalOfSessionRef(ref: string): Promise<Principal | null> {
    const [id, check] = ref.split(":");
    if (!id || !check) return null;
    if (id === BOOTSTRAP_ADMIN_ID) {
      return digestsEqual(check, sha256Hex(this.adminSha256)) ? BOOTSTRAP_PRINCIPAL : null;
    }
    const stored = this.held(id) ?? (await this.lookupMiss(id));
    if (!stored || stored.revoked || !digestsEqual(check, sha256Hex(stored.secretSha256))) return null;
    return principalOf(stored);
  }

  async create(input: CreateKeyInput): Promise<{ record: ApiKeyRecord; key: string }> {
    const [created] = await this.createMany([input]);
    return created as { record: ApiKeyRecord; key: string };
  }

  /** Creates many keys in one insert (a bulk apply); each secret is in the answer only. */
  async createMany(inputs: ReadonlyArray<CreateKeyInput>): Promise<Array<{ record: ApiKeyRecord; key: string }>> {
    if (inputs.length === 0) return [];
    const now = this.now();
    const version = this.nextVersion();
    const createdAt = new Date(Math.floor(now / 1000) * 1000).toISOString();
    const made = inputs.map((input) => {
      const { id, key, secretSha256 } = generateKey();
      const stored = storedKey({
        id,
        role: input.role,
        name: input.name,
        // A default org binds the key to it (tenancy.ts): one org, whichever field named it.
        org_id: input.org_id ?? input.default_tags.org_id ?? null,
        bound_tags: input.bound_tags ?? {},
        default_tags: input.default_tags,
        created_at: createdAt,
        secretSha256,
        revoked: false,
      });
      return { stored, key };
    });
    await this.store.insert(
      "api_keys",
      made.map(({ stored }) => toRow(stored, version)),
    );
    for (const { stored } of made) this.hold(stored, version);
    return made.map(({ stored, key }) => ({ record: publicRecord(stored), key }));
  }

  /** Every live key's record: the same array until a key is created or revoked (pages are cut from it). */
  records(): readonly ApiKeyRecord[] {
    this.live ??= [...this.keys.values()]
      .map(unpackKey)
      .filter((k) => !k.revoked)
      .map(publicRecord);
    return this.live;
  }

  /** Live keys; with `org`, only that org's (an org admin's view). */
  list(org: string | null = null): ApiKeyRecord[] {
    return this.records().filter((k) => org === null || k.org_id === org);
  }

  /** A live key's record, or undefined. */
  async get(id: string): Promise<ApiKeyRecord | undefined> {
    const stored = this.held(id) ?? (await this.lookupMiss(id));
    return stored && !stored.revoked ? publicRecord(stored) : undefined;
  }

  /** Revokes a key; false when there is no such (live) key. */
  async revoke(id: string): Promise<boolean> {
    const stored = this.held(id) ?? (await this.lookupMiss(id));
    if (!stored || stored.revoked) return false;
    const revoked = storedKey({ ...stored, revoked: true });
    const version = this.nextVersion();
    await this.store.insert("api_keys", [toRow(revoked, version)]);
    this.hold(revoked, version);
    return true;
  }

  /** A key held in memory, unpacked (the most recently used few thousand stay unpacked). */
  private held(id: string): StoredKey | undefined {
    let key = this.unpacked.get(id);
    if (key === undefined) {
      const packed = this.keys.get(id);
      if (packed === undefined) return undefined;
      key = unpackKey(packed);
      if (this.unpacked.size >= 4_096) this.unpacked.clear();
      this.unpacked.set(id, key);
    }
    return key;
  }

  private now(): number {
    return (this.options.clock ?? Date.now)();
  }

  /**
   * Requests that present the same new key at once share one lookup: an
   * agent's first burst (say 25 reports in parallel right after the key was
   * made) must not be refused because the few lookup slots were taken by its
   * own duplicates.
   */
  private readonly pendingLookups = new Map<string, Promise<StoredKey | undefined>>();

  private lookupMiss(id: string): Promise<StoredKey | undefined> {
    let pending = this.pendingLookups.get(id);
    if (!pending) {
      pending = this.lookupOnce(id).finally(() => this.pendingLookups.delete(id));
      this.pendingLookups.set(id, pending);
    }
    return pending;
  }

  private async lookupOnce(id: string): Promise<StoredKey | undefined> {
    const refreshMs = this.options.refreshMs ?? 1_000;
    const missedAt = this.recentMisses.get(id);
    if (missedAt !== undefined && this.now() - missedAt < refreshMs) return undefined;
    if (this.inFlightMisses >= (this.options.maxConcurrentMisses ?? 4)) return undefined;
    this.inFlightMisses++;
    try {
      const rows = await this.store.query<Row>(`${SELECT_KEYS} FROM api_keys FINAL WHERE id = {id:String}`, { id });
      const row = rows[0];
      if (!row) {
        if (this.recentMisses.size > 10_000) this.recentMisses.clear();
        this.recentMisses.set(id, this.now());
        return undefined;
      }
      this.hold(fromRow(row), Number(row.version));
      return this.held(id);
    } finally {
      this.inFlightMisses--;
    }
  }
}

function fromRow(row: Row): StoredKey {
  const defaultTags = parseTags(row.default_tags, DEFAULT_TAG_FIELDS);
  return storedKey({
    id: row.id,
    role: row.role,
    name: row.name,
    // Keys stored before bindings existed carry their org in the default tags only.
    org_id: row.org_id || defaultTags.org_id || null,
    bound_tags: parseTags(row.bound_tags, BINDABLE_TAGS),
    default_tags: defaultTags,
    created_at: new Date(Number(row.created_at) * 1000).toISOString(),
    secretSha256: row.secret_sha256,
    revoked: Number(row.revoked) === 1,
  });
}

/** Keys of one org mostly carry the same tags: each set is held once (see createInterner). */
const internTags = createInterner();

/**
 * A key as used (unpacked), with the tags it binds computed once. Written
 * out field by field, not `{ ...key, boundTags }`: V8 gave every object made
 * by such a spread its own hidden class, so 100,000 keys carried 100,000
 * shapes (~35 MB of heap that every full collection marks; seen in a heap
 * snapshot of bench/scale's large instance).
 */
function storedKey(key: Omit<StoredKey, "boundTags">): StoredKey {
  const boundTags: DefaultTags = { ...key.bound_tags };
  if (key.org_id !== null) boundTags.org_id = key.org_id;
  return {
    id: key.id,
    role: key.role,
    name: key.name,
    org_id: key.org_id,
    bound_tags: internTags(key.bound_tags),
    default_tags: internTags(key.default_tags),
    created_at: key.created_at,
    secretSha256: key.secretSha256,
    revoked: key.revoked,
    boundTags: internTags(boundTags),
  };
}

/** A key as one string: its fields in a JSON array (the id is the map's key too; kept for unpacking). */
function packKey(key: StoredKey): string {
  return flattened(
    JSON.stringify([
      key.id,
      key.role,
      key.name,
      key.org_id,
      key.bound_tags,
      key.default_tags,
      key.created_at,
      key.secretSha256,
      key.revoked,
    ]),
  );
}

/**
 * JSON.stringify builds a long result from pieces and hands back their
 * concatenation (a tree of strings, five objects for a ~200-character
 * key); converting it to a number makes V8 copy it into one flat string,
 * and the next collection drops the pieces.
 */
function flattened(text: string): string {
  Number(text);
  return text;
}

function unpackKey(packed: string): StoredKey {
  const [id, role, name, org_id, bound_tags, default_tags, created_at, secretSha256, revoked] = JSON.parse(packed) as [
    string,
    Role,
    string,
    string | null,
    Partial<Record<BindableTag, string>>,
    DefaultTags,
    string,
    string,
    boolean,
  ];
  return storedKey({ id, role, name, org_id, bound_tags, default_tags, created_at, secretSha256, revoked });
}

/** Made per request (a short-lived object), not held per key: one object fewer per key for the collector to mark. */
function principalOf(key: StoredKey): Principal {
  return { keyId: key.id, role: key.role, defaultTags: key.default_tags, boundTags: key.boundTags };
}

function toRow(key: StoredKey, version: number): Record<string, unknown> {
  return {
    id: key.id,
    secret_sha256: key.secretSha256,
    role: key.role,
    name: key.name,
    default_tags: JSON.stringify(key.default_tags),
    org_id: key.org_id ?? "",
    bound_tags: JSON.stringify(key.bound_tags),
    created_at: Math.floor(Date.parse(key.created_at) / 1000),
    revoked: key.revoked ? 1 : 0,
    // Later writes win in ReplacingMergeTree(version).
    version,
  };
}

function parseTags<F extends string>(text: string, fields: ReadonlyArray<F>): Partial<Record<F, string>> {
  const parsed = JSON.parse(text || "{}") as Record<string, unknown>;
  const tags: Partial<Record<F, string>> = {};
  for (const field of fields) if (typeof parsed[field] === "string") tags[field] = parsed[field] as string;
  return tags;
}

function publicRecord(key: StoredKey): ApiKeyRecord {
  return {
    id: key.id,
    role: key.role,
    name: key.name,
    org_id: key.org_id,
    bound_tags: key.bound_tags,
    default_tags: key.default_tags,
    created_at: key.created_at,
  };
}
