/** `redis://[:PASSWORD@]HOST:PORT[/DB][?queue=NAME]`: where the trial queue lives. */
import { EvolverArgumentError } from '../errors.js';

export interface QueueLocation {
  connection: { host: string; port: number; db: number; password?: string; username?: string };
  /** The BullMQ queue's name (default `evolver`): several runs may share one. */
  queueName: string;
  /** For messages: the URL without its password. */
  display: string;
}

export class QueueUrlError extends EvolverArgumentError {
  override readonly name = 'QueueUrlError';
}

export function parseQueueUrl(text: string): QueueLocation {
  let url: URL;
  try {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw new Error('no scheme');
    url = new URL(text);
  } catch {
    throw new QueueUrlError(`--queue ${JSON.stringify(text)}: expected redis://HOST:PORT[/DB][?queue=NAME]`);
  }
  if (url.protocol !== 'redis:') throw new QueueUrlError(`--queue ${JSON.stringify(text)}: only redis:// URLs are supported (got ${url.protocol})`);
  if (url.hostname === '') throw new QueueUrlError(`--queue ${JSON.stringify(text)}: no host`);
  const port = url.port === '' ? 6379 : Number(url.port);
  const dbText = url.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || db > 15 || !/^\d*$/.test(dbText)) throw new QueueUrlError(`--queue ${JSON.stringify(text)}: the database must be a number 0-15 (got ${JSON.stringify(dbText)})`);
  const queueName = url.searchParams.get('queue') ?? 'evolver';
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(queueName)) throw new QueueUrlError(`--queue: queue name ${JSON.stringify(queueName)} must be 1-100 letters, digits, '_', '.' or '-'`);
  const connection: QueueLocation['connection'] = { host: url.hostname, port, db };
  if (url.password !== '') connection.password = decodeURIComponent(url.password);
  if (url.username !== '') connection.username = decodeURIComponent(url.username);
  const display = `redis://${url.hostname}:${port}/${db}${queueName === 'evolver' ? '' : `?queue=${queueName}`}`;
  return { connection, queueName, display };
}
