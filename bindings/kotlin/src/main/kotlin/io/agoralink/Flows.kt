package io.agoralink

import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.receiveAsFlow

/**
 * The SDK's log records at [minLevel] and above as a cold [Flow]: collecting it installs a log
 * listener (replacing any other, the SLF4J bridge included), cancelling the collection removes it
 * and puts the SLF4J bridge back when SLF4J is present. Records are buffered (64; the oldest are
 * dropped when the collector is slower than the SDK, which never waits for it). One collector at
 * a time: a second collection takes the listener over. Records never contain a secret.
 */
fun logRecords(minLevel: LogLevel = LogLevel.INFO): Flow<LogRecord> = callbackFlow {
    val listener = object : LogListener {
        override fun log(record: LogRecord) {
            trySend(record)
        }
    }
    setLogListener(listener, minLevel)
    awaitClose {
        clearLogListener()
        if (Slf4jBridge.available) Slf4jBridge.install()
    }
}.buffer(64, BufferOverflow.DROP_OLDEST)

/**
 * An [IotEventListener] whose events are a [Flow]: pass it as the `listener` of an [IotProvider]
 * and collect [events] (one collector; events before collection are kept, up to [capacity], then
 * the oldest are dropped: the SDK never waits for the collector).
 *
 * ```kotlin
 * val events = IotEventFlow()
 * val provider = IotProvider(client, login.gyToken, null, events)
 * scope.launch { events.events.collect { println(it) } }
 * ```
 * Thread-safe.
 */
class IotEventFlow(capacity: Int = 64) : IotEventListener {
    private val channel = Channel<IotEvent>(capacity, BufferOverflow.DROP_OLDEST)

    /** The provider's events, in order. */
    val events: Flow<IotEvent> = channel.receiveAsFlow()

    override fun onEvent(event: IotEvent) {
        channel.trySend(event)
    }
}
