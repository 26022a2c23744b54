package io.agoralink

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.future.future
import java.util.concurrent.CancellationException
import java.util.concurrent.ExecutionException

/** Where the blocking calls' suspend twins run: resumed on [Dispatchers.Default], never on the
 *  library thread that completes them. */
private val blockingCalls = CoroutineScope(SupervisorJob() + Dispatchers.Default)

/**
 * Runs [call] (a suspend call of the SDK) and waits for it on the calling thread, the way every
 * `…Blocking` method does (the generated code is rewritten to call this, see
 * `scripts/lib/kotlin-native-glue.py`).
 *
 * [Thread.interrupt] ends the wait at once with [InterruptedException] (the thread's interrupt
 * status is cleared, as `Object.wait` does) and cancels the call like cancelling its coroutine:
 * a read (token, packages, login, IoT URL) is aborted and its connection closed; a purchase or an
 * account change runs to its end in the background, sent once. A thread already interrupted
 * fails at once without calling. The SDK's own failures are rethrown as they are
 * ([AgoraLinkException]).
 */
@Throws(AgoraLinkException::class, InterruptedException::class)
internal fun <T> interruptibly(call: suspend () -> T): T {
    if (Thread.interrupted()) throw InterruptedException()
    // Started on this thread (no hand-over to start the call); resumed on Dispatchers.Default.
    val pending = blockingCalls.future(start = CoroutineStart.UNDISPATCHED) { call() }
    try {
        return pending.get()
    } catch (interrupted: InterruptedException) {
        pending.cancel(true)
        throw interrupted
    } catch (failed: ExecutionException) {
        throw failed.cause ?: failed
    } catch (cancelled: CancellationException) {
        throw InterruptedException("the call was cancelled")
    }
}
