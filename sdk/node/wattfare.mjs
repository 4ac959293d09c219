// Wattfare for Node backends: mint session tokens locally with your secret
// key, the JavaScript twin of sdk/go/wattfareapp. No dependencies.
//
//   import { Wattfare } from "@wattfare/server";
//   const wf = new Wattfare(process.env.WATTFARE_SECRET_KEY, process.env.WATTFARE_PUBLISHABLE_KEY);
//   const token = wf.createSession(user.id, { requestLimit: { monthlyUsd: 10 } });
//
// The layout is spec/session-vectors.json; the tests reproduce it byte for byte.
import { createPrivateKey, randomBytes, sign } from "node:crypto";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const TOKEN_TYPE = "wattfare-session+jwt";
const MAX_LIFETIME_S = 600;
const MAX_MONTHLY_CAP_USD = 100000;

function base32(bytes) {
  let out = "", bits = 0, value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(s) {
  const out = [];
  let bits = 0, value = 0;
  for (const c of s) {
    const i = ALPHABET.indexOf(c);
    if (i < 0) throw new Error("wattfare: malformed key");
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function parseKey(key, prefix, rawLen, crcOver) {
  const m = new RegExp(`^${prefix}_(test|live)_([a-z2-7]+)$`).exec(key ?? "");
  if (!m) throw new Error(`wattfare: not a ${prefix}_ key`);
  const raw = unbase32(m[2]);
  if (raw.length !== rawLen || base32(raw) !== m[2]) throw new Error(`wattfare: malformed ${prefix}_ key`);
  if (crc32(raw.subarray(0, crcOver)) !== raw.readUInt32BE(crcOver)) throw new Error(`wattfare: ${prefix}_ key checksum mismatch`);
  return { mode: m[1], raw };
}

const b64url = (s) => Buffer.from(s).toString("base64url");

export class Wattfare {
  /** @param {string} secretKey sk_test_… or sk_live_… @param {string} publishableKey pk_… of the same mode */
  constructor(secretKey, publishableKey) {
    const sk = parseKey(secretKey, "sk", 46, 42);
    const pk = parseKey(publishableKey, "pk", 14, 10);
    if (sk.mode !== pk.mode) throw new Error(`wattfare: secret key is ${sk.mode} mode but publishable key is ${pk.mode} mode`);
    this.publishableKey = publishableKey;
    this.mode = sk.mode;
    this.kid = base32(sk.raw.subarray(0, 10));
    const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), sk.raw.subarray(10, 42)]);
    this.privateKey = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
  }

  /**
   * createSession mints a session token for your user, valid 10 minutes.
   * @param {string} userId your app's id for the user
   * @param {{requestLimit?: {monthlyUsd?: number}}} [opts] the monthly cap you request (the user may change it)
   * @param {{now?: number, jti?: string, lifetimeSeconds?: number}} [fixed] for tests: iat (seconds), jti, lifetime
   */
  createSession(userId, opts = {}, fixed = {}) {
    // The same rule as the Go SDK's CheckUserID and the control plane: the
    // id must survive the data plane's Wattfare-User header unchanged.
    if (typeof userId !== "string" || userId.length === 0 || Buffer.byteLength(userId) > 256) throw new Error("wattfare: user id must be 1 to 256 bytes");
    if (/\p{Cc}/u.test(userId) || userId.trim() !== userId || (userId.isWellFormed && !userId.isWellFormed()))
      throw new Error("wattfare: user id must be UTF-8 with no control characters or surrounding spaces");
    const cap = opts.requestLimit?.monthlyUsd;
    // A plain decimal only: the control plane refuses exponents ("1e-7").
    if (cap != null && !(Number.isFinite(cap) && cap > 0 && cap <= MAX_MONTHLY_CAP_USD && !/e/i.test(String(cap))))
      throw new Error(`wattfare: monthlyUsd must be a positive number up to ${MAX_MONTHLY_CAP_USD}`);
    const life = fixed.lifetimeSeconds ?? MAX_LIFETIME_S;
    if (!(Number.isInteger(life) && life > 0 && life <= MAX_LIFETIME_S)) throw new Error("wattfare: lifetime must be 1 to 600 whole seconds");
    const iat = fixed.now ?? Math.floor(Date.now() / 1000);
    const jti = fixed.jti ?? base32(randomBytes(16));
    // Written by hand: field order and compactness are part of the spec.
    const header = `{"alg":"EdDSA","typ":"${TOKEN_TYPE}","kid":${JSON.stringify(this.kid)}}`;
    let claims = `{"iss":${JSON.stringify(this.publishableKey)},"sub":${JSON.stringify(userId)},"aud":"wattfare","iat":${iat},"exp":${iat + life},"jti":${JSON.stringify(jti)}`;
    if (cap != null) claims += `,"monthly_cap_usd":${JSON.stringify(cap)}`;
    claims += "}";
    const signing = `${b64url(header)}.${b64url(claims)}`;
    return `${signing}.${sign(null, Buffer.from(signing), this.privateKey).toString("base64url")}`;
  }
}
