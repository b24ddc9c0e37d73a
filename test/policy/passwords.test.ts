// Password storage: scrypt hashes from hashPassword, plain passwords, and stored values that look
// like a hash but are not one, which must match nothing (and never throw).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashPassword, isHashed, parseHash, verifyPassword } from '../../src/policy/passwords.ts';

describe('passwords: scrypt hashes', () => {
  it('round-trips, and a wrong password is refused', async () => {
    const hash = await hashPassword('correct horse');
    assert.match(hash, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.ok(isHashed(hash));
    assert.ok(parseHash(hash));
    assert.equal(await verifyPassword(hash, 'correct horse'), true);
    assert.equal(await verifyPassword(hash, 'correct horse '), false);
    assert.equal(await verifyPassword(hash, 'Correct horse'), false);
    assert.equal(await verifyPassword(hash, ''), false);
  });

  it('salts: two hashes of the same password differ, and both verify', async () => {
    const [a, b] = await Promise.all([hashPassword('same'), hashPassword('same')]);
    assert.notEqual(a, b);
    assert.notEqual(a.split('$')[4], b.split('$')[4], 'different salts');
    assert.equal(await verifyPassword(a, 'same'), true);
    assert.equal(await verifyPassword(b, 'same'), true);
  });

  it('hashes unicode passwords as UTF-8, distinguishing look-alikes', async () => {
    const password = 'pässwörd-🔑-密码';
    const hash = await hashPassword(password);
    assert.equal(await verifyPassword(hash, password), true);
    // The same letters in decomposed form are other bytes: no silent normalisation.
    assert.equal(await verifyPassword(hash, password.normalize('NFD')), false);
    assert.equal(await verifyPassword(hash, 'passwort-🔑-密码'), false);
  });
});

describe('passwords: plain text', () => {
  it('compares plain passwords exactly, whatever their lengths', async () => {
    assert.equal(await verifyPassword('plain-secret', 'plain-secret'), true);
    assert.equal(await verifyPassword('plain-secret', 'plain-secre'), false);
    assert.equal(await verifyPassword('plain-secret', 'plain-secret-and-more'), false);
    assert.equal(await verifyPassword('plain-secret', ''), false);
    assert.equal(await verifyPassword('ünïcødé 🔑', 'ünïcødé 🔑'), true);
    assert.equal(await verifyPassword('ünïcødé 🔑', 'unicode 🔑'), false);
  });
});

describe('passwords: stored values that are not a hash hopwatch can check', () => {
  const salt = 'AAAAAAAAAAAAAAAAAAAAAA';
  const key = 'A'.repeat(43);
  const malformed = [
    'scrypt$',
    'scrypt$$$$$',
    'scrypt$garbage',
    'scrypt$32768$8$1$onlyfive',
    'scrypt$32768$8$1$!!!!!!!!!!!!$????????????????????????',
    `scrypt$3$8$1$${salt}$${key}`, // N not a power of two
    `scrypt$1$8$1$${salt}$${key}`, // N too small
    `scrypt$0x8000$8$1$${salt}$${key}`, // not decimal
    `scrypt$32768$0$1$${salt}$${key}`, // r = 0
    `scrypt$32768$8$$${salt}$${key}`, // p empty
    `scrypt$32768$8$1$AAAA$${key}`, // salt too short
    `scrypt$32768$8$1$${salt}$AAAA`, // key too short
    `scrypt$32768$8$1$${salt}$${'A'.repeat(100_000)}`, // key far too long
    `scrypt$1048576$32$16$${salt}$${key}`, // minutes of work and gigabytes per check
    `scrypt$32768$8$1$${salt}$${key}$extra`,
  ];

  for (const stored of malformed) {
    it(`refuses everything against ${JSON.stringify(stored.length > 60 ? `${stored.slice(0, 60)}…` : stored)}`, async () => {
      assert.equal(parseHash(stored), undefined);
      // Not compared as plain text either: the broken hash itself must not be the password.
      assert.equal(await verifyPassword(stored, stored), false);
      assert.equal(await verifyPassword(stored, ''), false);
      assert.equal(await verifyPassword(stored, 'anything'), false);
    });
  }

  it('checks a valid hash with small, unusual parameters (memory limit sized to them)', async () => {
    // N=2, r=1: below the default's maxmem formula once, which made scrypt throw.
    const stored = `scrypt$2$1$1$${salt}$${key}`;
    assert.ok(parseHash(stored));
    assert.equal(await verifyPassword(stored, 'anything'), false);
  });
});
