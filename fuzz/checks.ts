// What must still hold after hostile input: the process answers its health check and serves a
// plain HTTP request and a plain SOCKS5 session end to end, through the same listeners the
// fuzzer hammered.
import http from 'node:http';
import { adminGet } from '../harness/admin.ts';
import { RawSocks, greeting, requestIpv4, userPass } from '../test/helpers/socks.ts';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Credentials {
  username: string;
  password: string;
}

async function attempt(name: string, run: () => Promise<string>): Promise<Check> {
  try {
    return { name, ok: true, detail: await run() };
  } catch (err) {
    return { name, ok: false, detail: err instanceof Error ? err.message : String(err) };
  }
}

export function checkHealth(adminPort: number): Promise<Check> {
  return attempt('/healthz answers 200', async () => {
    const answer = await adminGet(adminPort, '/healthz');
    if (answer.status !== 200) throw new Error(`/healthz answered ${answer.status}`);
    return '200';
  });
}

export function checkHttpForward(proxyPort: number, originPort: number, who: Credentials): Promise<Check> {
  return attempt('a normal HTTP forward request works', () =>
    new Promise<string>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: proxyPort,
        path: `http://127.0.0.1:${originPort}/after-fuzz`,
        agent: false,
        headers: { host: `127.0.0.1:${originPort}`, 'proxy-authorization': `Basic ${Buffer.from(`${who.username}:${who.password}`).toString('base64')}` },
      });
      req.setTimeout(5_000, () => req.destroy(new Error('no response within 5 s')));
      req.on('error', reject);
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          if (res.statusCode === 200 && body.includes('/after-fuzz')) resolve(`200 ${JSON.stringify(body.trim())}`);
          else reject(new Error(`got ${res.statusCode}: ${body.slice(0, 300)}`));
        });
      });
      req.end();
    }));
}

export function checkSocks(socksPort: number, originPort: number, who: Credentials): Promise<Check> {
  return attempt('a normal SOCKS5 session works', async () => {
    const client = await RawSocks.open(socksPort);
    try {
      client.send(greeting(0x02));
      const method = await client.read(2);
      if (method[1] !== 0x02) throw new Error(`method reply ${method.toString('hex')}`);
      client.send(userPass(who.username, who.password));
      const auth = await client.read(2);
      if (auth[1] !== 0x00) throw new Error(`auth reply ${auth.toString('hex')}`);
      client.send(requestIpv4('127.0.0.1', originPort));
      const reply = await client.read(10);
      if (reply[1] !== 0x00) throw new Error(`request reply ${reply.toString('hex')}`);
      client.send(Buffer.from('GET /after-fuzz-socks HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n'));
      const answer = (await client.closed()).toString('latin1');
      if (!answer.startsWith('HTTP/1.1 200')) throw new Error(`through the tunnel: ${answer.slice(0, 200)}`);
      return 'reply 0x00, 200 through the tunnel';
    } finally {
      client.destroy();
    }
  });
}
