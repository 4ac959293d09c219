// Wattfare's key layouts (spec/session-vectors.json): base32 (RFC 4648,
// lowercase, unpadded) of the key's bytes and a CRC-32 (IEEE, big-endian)
// of them, so that a mistyped or truncated key fails here, before any call.
import { WattfareInvalidKeyError } from "./errors";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

export function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(s: string): Uint8Array | undefined {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of s) {
    const i = ALPHABET.indexOf(c);
    if (i < 0) return undefined;
    value = ((value << 5) | i) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 255]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export type Mode = "test" | "live";

export interface ParsedKey {
  mode: Mode;
  raw: Uint8Array;
}

function invalid(message: string): WattfareInvalidKeyError {
  return new WattfareInvalidKeyError({ code: "invalid_api_key", status: 0, message });
}

/**
 * parseKey checks a key's layout and checksum: prefix "sk" (key id 10 bytes
 * and Ed25519 seed 32, then the CRC) or "pk" (app id 10 bytes, then the CRC).
 * The message names the key's kind, never its value.
 */
export function parseKey(key: string | undefined, prefix: "sk" | "pk", envName: string): ParsedKey {
  const what = prefix === "sk" ? "secret key" : "publishable key";
  if (key === undefined || key === "") throw invalid(`Wattfare: no ${what}: pass it to new Wattfare() or set ${envName}`);
  const m = new RegExp(`^${prefix}_(test|live)_([a-z2-7]+)$`).exec(key);
  if (!m) throw invalid(`Wattfare: the ${what} must look like ${prefix}_test_… or ${prefix}_live_… (check ${envName})`);
  const rawLen = prefix === "sk" ? 46 : 14;
  const raw = unbase32(m[2]!);
  if (!raw || raw.length !== rawLen || base32(raw) !== m[2]) throw invalid(`Wattfare: the ${what} is truncated or has extra characters (check ${envName})`);
  const body = raw.subarray(0, rawLen - 4);
  const sum = new DataView(raw.buffer, raw.byteOffset + rawLen - 4, 4).getUint32(0);
  if (crc32(body) !== sum) throw invalid(`Wattfare: the ${what} has a wrong checksum: it was mistyped or cut (check ${envName})`);
  return { mode: m[1] as Mode, raw };
}
