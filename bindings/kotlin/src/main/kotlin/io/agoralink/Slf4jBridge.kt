package io.agoralink

import java.util.concurrent.atomic.AtomicBoolean

/**
 * Sends the SDK's log records to SLF4J when SLF4J (2.x API) is on the classpath: loggers named
 * after the record's target with `.` for `::` (`agora_link.transport`, `agora_link.auth`, …; set
 * the level of `agora_link` to see them), levels mapped one to one (TRACE … ERROR). Records never
 * contain a secret.
 *
 * Installed automatically by the first [AgoraLinkClient]; nothing happens without SLF4J. The
 * lowest level forwarded is read from the `agora_link` logger and its usual children when it is
 * installed: after changing your logging configuration at run time, call [refreshLevel]. Your own
 * [setLogListener] replaces it (and [logRecords] while collected); [install] puts it back.
 * Thread-safe.
 */
object Slf4jBridge {
    private val installed = AtomicBoolean(false)
    private val targets = listOf("agora_link", "agora_link.client", "agora_link.auth", "agora_link.transport",
        "agora_link.failover", "agora_link.iot", "agora_link.runtime")

    /** Whether the SLF4J API is on the classpath. */
    @JvmStatic
    val available: Boolean by lazy {
        try {
            Class.forName("org.slf4j.LoggerFactory", false, Slf4jBridge::class.java.classLoader)
            true
        } catch (missing: ClassNotFoundException) {
            false
        } catch (missing: LinkageError) {
            false
        }
    }

    internal fun installOnce() {
        if (installed.compareAndSet(false, true)) install()
    }

    /** Installs the bridge (replacing any log listener); returns false when SLF4J is absent or
     *  another `tracing` subscriber owns the process. */
    @JvmStatic
    fun install(): Boolean {
        if (!available) return false
        return try {
            setLogListener(Forwarder, LogLevel.ERROR)
            refreshLevel()
            true
        } catch (failure: AgoraLinkException) {
            false
        }
    }

    /** Re-reads the SLF4J levels of the `agora_link` loggers and forwards from the lowest one. */
    @JvmStatic
    fun refreshLevel() {
        if (!available) return
        setLogLevel(Levels.lowest(targets))
    }

    private object Forwarder : LogListener {
        override fun log(record: LogRecord) = Levels.emit(record)
    }

    /** Touches SLF4J classes only when [available]. */
    private object Levels {
        fun lowest(names: List<String>): LogLevel? {
            var lowest: LogLevel? = null
            for (name in names) {
                val logger = org.slf4j.LoggerFactory.getLogger(name)
                val level = when {
                    logger.isTraceEnabled -> LogLevel.TRACE
                    logger.isDebugEnabled -> LogLevel.DEBUG
                    logger.isInfoEnabled -> LogLevel.INFO
                    logger.isWarnEnabled -> LogLevel.WARN
                    logger.isErrorEnabled -> LogLevel.ERROR
                    else -> null
                }
                if (level != null && (lowest == null || level < lowest)) lowest = level
            }
            return lowest
        }

        fun emit(record: LogRecord) {
            val logger = org.slf4j.LoggerFactory.getLogger(record.target.replace("::", "."))
            when (record.level) {
                LogLevel.TRACE -> logger.trace(record.message)
                LogLevel.DEBUG -> logger.debug(record.message)
                LogLevel.INFO -> logger.info(record.message)
                LogLevel.WARN -> logger.warn(record.message)
                LogLevel.ERROR -> logger.error(record.message)
            }
        }
    }
}
