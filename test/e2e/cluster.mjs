// Two herald nodes sharing Redis and a PostgreSQL schema of their own, for
// the tests of what must hold across a cluster.
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import { Herald } from "./server.mjs";

const PG = process.env.HERALD_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test?sslmode=disable";
const REDIS = process.env.HERALD_TEST_REDIS ?? "redis://127.0.0.1:6379/0";

function psql(sql) {
  execFileSync("psql", ["-q", PG, "-c", sql], { stdio: ["ignore", "ignore", "inherit"] });
}

export class Cluster {
  constructor(env = {}) {
    const id = crypto.randomBytes(4).toString("hex");
    this.schema = `herald_e2e_${id}`;
    const sep = PG.includes("?") ? "&" : "?";
    const shared = {
      HERALD_DATABASE_URL: `${PG}${sep}search_path=${this.schema}`,
      HERALD_REDIS_URL: REDIS,
      HERALD_REDIS_PREFIX: `herald-e2e-${id}`,
      ...env,
    };
    this.nodes = [new Herald(shared), new Herald(shared)];
  }
  async start() {
    psql(`create schema ${this.schema}`);
    // One node first: it migrates the schema, the second finds it done.
    await this.nodes[0].start();
    await this.nodes[1].start();
    return this;
  }
  async stop() {
    await Promise.all(this.nodes.map((n) => n.stop()));
    psql(`set client_min_messages = warning; drop schema ${this.schema} cascade`);
  }
  closeSockets() {
    for (const n of this.nodes) n.closeSockets();
  }
}
