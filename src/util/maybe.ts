// Steps that are usually synchronous (an interceptor that answers at once, a message already
// buffered) but may have to wait: chained without a promise or a microtask when they need none.
export type MaybePromise<T> = T | Promise<T>;

/** `next(value)`, at once when `value` is not a promise, after it settles when it is. */
export function after<T, U>(value: MaybePromise<T>, next: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}
