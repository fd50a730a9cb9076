/**
 * Completions of an executor's tasks, sent together (protocol 1.1,
 * `POST /tasks/complete`): a completion goes at once when no request is
 * under way, and those that come while one is wait for it and go in the
 * next. A lone completion is never held back; under load, tasks finishing
 * together share one request (and one store transaction in the cloud).
 */
import type {
  CompleteBatchRequest,
  CompleteBatchResponse,
  CompleteRequest,
  CompleteResponse,
} from '../../protocol/messages.js';
import { CloudApiError } from './cloud-client.js';

/** Most completions in one request (the cloud takes up to 1,000). */
const MAX_ITEMS = 500;
const PATH = '/tasks/complete';

interface Pending {
  item: CompleteBatchRequest['items'][number];
  resolve(value: CompleteResponse): void;
  reject(error: unknown): void;
}

export class CompletionBatcher {
  private queue: Pending[] = [];
  private sending = false;

  /** `send` posts one batch and answers the cloud's response (it retries as it sees fit). */
  constructor(
    private readonly send: (body: CompleteBatchRequest) => Promise<CompleteBatchResponse>,
  ) {}

  /**
   * Reports a task's completion; answers the cloud's CompleteResponse for
   * it, or throws the item's refusal as a CloudApiError (409 `stale_lease`
   * when the lease is not current), or the error of the whole request.
   */
  complete(taskId: string, request: CompleteRequest): Promise<CompleteResponse> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item: { taskId, ...request }, resolve, reject });
      if (!this.sending) {
        this.sending = true;
        // Completions reported in the same turn of the event loop go together.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_ITEMS);
        let response: CompleteBatchResponse;
        try {
          response = await this.send({ items: batch.map((p) => p.item) });
        } catch (err) {
          for (const p of batch) p.reject(err);
          continue;
        }
        batch.forEach((p, i) => {
          const result = response.results[i];
          if (!result || result.taskId !== p.item.taskId) {
            p.reject(
              new CloudApiError(
                `the cloud answered no result for task ${p.item.taskId} (POST ${PATH})`,
                502,
                'bad_response',
                PATH,
              ),
            );
          } else if ('error' in result) {
            const status = result.error.code === 'stale_lease' ? 409 : 400;
            p.reject(
              new CloudApiError(
                `cloud POST ${PATH}: ${status} ${result.error.code}: ${result.error.message}`,
                status,
                result.error.code,
                PATH,
              ),
            );
          } else {
            const { taskId: _taskId, ...answer } = result;
            p.resolve(answer);
          }
        });
      }
    } finally {
      this.sending = false;
    }
  }
}
