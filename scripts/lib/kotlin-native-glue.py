#!/usr/bin/env python3
"""Rewrites the UniFFI-generated Kotlin (bindings/kotlin, run by the Maven build after
uniffi-bindgen) so that it behaves as JVM code is expected to:

* every `fooBlocking(...)` runs as its suspend twin `foo(...)` through `interruptibly` (hand-written,
  src/main/kotlin/io/agoralink/Interruptible.kt): `Thread.interrupt()` ends the wait with
  `InterruptedException` and cancels the call (a read is aborted; a purchase or account change
  runs to its end, never half-sent), as cancelling the coroutine does;
* the fallible constructors and the interfaces' blocking methods declare what they throw
  (`@Throws`), so that Java can catch `AgoraLinkException`/`InterruptedException` directly;
* `AgoraLinkClient`'s constructor installs the SLF4J bridge once (src/main/kotlin/io/agoralink/
  Slf4jBridge.kt), which does nothing when SLF4J is not on the classpath;
* `IotCredentials.toString()` shows the access key id masked (`ASIA…(20)`), as every string form
  of the bindings does (docs/bindings.md, "What is masked"); the secrets already print as `***`;
* the generator's plumbing, public in Kotlin so that the generated file can use it, is marked
  `@suppress` so that the API docs (Dokka, the javadoc JAR) do not list it: the `FfiConverter*`
  objects, `RustBuffer`, the `Uniffi*` helpers, `InternalException`, the `*Impl` classes (the
  Rust side of the callback interfaces) and the handle constructors and members of the objects.

Fails loudly if the generated code no longer has the shape this expects (a UniFFI upgrade).
Usage: kotlin-native-glue.py <agora_link.kt>
"""
import re
import sys

path = sys.argv[1]
source = open(path, encoding="utf-8").read()

SIGNATURE = re.compile(
    r"@Throws\(AgoraLinkException::class\)override fun `(\w+)Blocking`\(([^)]*)\)(\s*:\s*[\w.<>?, ]+?)?\s*(\{|\n\s*=)"
)


def rewrite(text: str) -> tuple[str, int]:
    out, position, count = [], 0, 0
    for match in SIGNATURE.finditer(text):
        # The body: the signature's `{ … }`, or `= callWithHandle { … }`; braces balanced (the
        # generated bodies hold no brace in a string or comment).
        opening = match.end() - 1 if match.group(4) == "{" else text.find("{", match.end())
        depth, end = 0, -1
        for index in range(opening, len(text)):
            if text[index] == "{":
                depth += 1
            elif text[index] == "}":
                depth -= 1
                if depth == 0:
                    end = index + 1
                    break
        if opening < 0 or end < 0:
            sys.exit(f"kotlin-native-glue: no end for {match.group(1)}Blocking")
        twin, params, returns = match.group(1), match.group(2), (match.group(3) or "").strip()
        if f"suspend fun `{twin}`(" not in text:
            sys.exit(f"kotlin-native-glue: {twin}Blocking has no suspend twin")
        args = ", ".join(f"`{name}`" for name in re.findall(r"`(\w+)`\s*:", params))
        ret = f" {returns}" if returns else ""
        body = f"return interruptibly {{ `{twin}`({args}) }}" if returns else f"interruptibly {{ `{twin}`({args}) }}"
        out.append(text[position:match.start()])
        out.append(
            f"@Throws(AgoraLinkException::class, InterruptedException::class)override fun `{twin}Blocking`({params}){ret} {{\n"
            f"        {body}\n    }}"
        )
        position = end
        count += 1
    out.append(text[position:])
    return "".join(out), count


source, rewritten = rewrite(source)
if rewritten < 8:
    sys.exit(f"kotlin-native-glue: expected 8 blocking methods, rewrote {rewritten}")

# Java sees checked exceptions only where @Throws declares them: the constructors that can fail
# and the interface's blocking methods (a Java caller holding the interface type).
constructors = 0


def declare_constructor(match: "re.Match[str]") -> str:
    global constructors
    constructors += 1
    return "    @Throws(AgoraLinkException::class)\n" + match.group(0)


source = re.sub(r"^    constructor\([^\n]*\) :\n        this\(UniffiWithHandle, \n    uniffiRustCallWithError\(AgoraLinkException\)",
                declare_constructor, source, flags=re.M)
if constructors < 2:
    sys.exit(f"kotlin-native-glue: expected the fallible constructors (client, IoT provider), found {constructors}")
source, interface_methods = re.subn(r"^    fun `(\w+Blocking)`\(", r"    @Throws(AgoraLinkException::class, InterruptedException::class)\n    fun `\1`(",
                                    source, flags=re.M)
if interface_methods < 8:
    sys.exit(f"kotlin-native-glue: expected 8 blocking methods in the interfaces, found {interface_methods}")

# The other methods of each `<Name>Interface` that throw in the class `<Name>` (the generated
# interfaces declare nothing).
THROWING = re.compile(r"@Throws\(AgoraLinkException::class\)\s*(?:@Suppress\([^)]*\)\s*)?override (?:suspend )?fun `(\w+)`")
for interface in re.findall(r"^public interface (\w+)Interface \{", source, flags=re.M):
    body_start = source.find(f"open class {interface}: ")
    if body_start < 0:
        continue
    body_end = source.find("\nopen class ", body_start + 1)
    throwing = set(THROWING.findall(source[body_start:body_end if body_end > 0 else len(source)]))
    start = source.find(f"public interface {interface}Interface {{")
    end = source.find("\n}\n", start)
    block = source[start:end]
    for name in sorted(throwing):
        if name.endswith("Blocking"):
            continue
        block, added = re.subn(rf"^    ((?:suspend )?fun `{name}`\()", r"    @Throws(AgoraLinkException::class)\n    \1",
                               block, flags=re.M)
        interface_methods += added
    source = source[:start] + block + source[end:]

CLIENT = "open class AgoraLinkClient: Disposable, AutoCloseable, AgoraLinkClientInterface\n{\n"
if CLIENT not in source:
    sys.exit("kotlin-native-glue: AgoraLinkClient's declaration changed")
source = source.replace(CLIENT, CLIENT + "\n    init { Slf4jBridge.installOnce() }\n", 1)

# IotCredentials prints its access key id masked, as every string form of the bindings does
# (docs/bindings.md, "What is masked"): an identifier, not a secret, but shown as `ASIA…(20)`
# wherever a person reads it. The data class's own toString would print it in full.
RECORD = re.compile(r"^data class IotCredentials \((.*?)\n\): Disposable\s*\{\n", re.M | re.S)
record = RECORD.search(source)
fields = re.findall(r"^    va[rl] `(\w+)`:", record.group(1), flags=re.M) if record else []
if "accessKeyId" not in fields:
    sys.exit("kotlin-native-glue: IotCredentials's declaration changed")
shown = ", ".join(
    f"{name}=${{Secret({name}).use {{ it.masked() }}}}" if name == "accessKeyId" else f"{name}=${name}"
    for name in fields
)
source = source[:record.end()] + (
    "    /** Every field; the secrets as `***`, the access key id masked (`ASIA…(20)`). */\n"
    f'    override fun toString(): String = "IotCredentials({shown})"\n\n'
) + source[record.end():]

# The generator's plumbing out of the API docs: `@suppress` in the KDoc of each declaration (added
# to the KDoc it has, or a KDoc of its own before its annotations).
INTERNAL = [re.compile(pattern) for pattern in (
    r"^(?:public |open |abstract )*(?:class|object|interface) (?:FfiConverter|Uniffi|RustBuffer)\w*\b",
    r"^(?:public |open )*class \w+Impl\b",
    r"^(?:public )?class InternalException\b",
    r"^(?:public )?object NoHandle\b",
    r"^(?:public )?fun uniffiEnsureInitialized\b",
    r"^    constructor\((?:withHandle: UniffiWithHandle|noHandle: NoHandle)\b",
    r"^    protected val (?:handle|cleanable)\b",
    r"^    val uniffiIsDestroyed\b",
    r"^    fun uniffiCloneHandle\b",
    r"^    companion object\b",
)]
lines = source.split("\n")
hidden: dict[str, int] = {}
index = 0
while index < len(lines):
    line = lines[index]
    if not any(pattern.match(line) for pattern in INTERNAL):
        index += 1
        continue
    hidden[line.strip()] = hidden.get(line.strip(), 0) + 1
    indent = line[: len(line) - len(line.lstrip())]
    start = index
    while start > 0 and lines[start - 1].strip().startswith("@"):
        start -= 1
    if start > 0 and lines[start - 1].strip() == "*/":
        lines[start - 1] = f"{indent} * @suppress\n{indent} */"
    else:
        lines.insert(start, f"{indent}/** @suppress */")
        index += 1
    index += 1
source = "\n".join(lines)
for required in ("InternalException", "object FfiConverterString", "class RustBuffer", "class LogListenerImpl",
                 "class IotEventListenerImpl", "constructor(withHandle: UniffiWithHandle, handle: Long)"):
    if not any(required in declaration for declaration in hidden):
        sys.exit(f"kotlin-native-glue: found no {required} to hide from the API docs")

open(path, "w", encoding="utf-8").write(source)
print(f"kotlin-native-glue: {rewritten} blocking methods made interruptible, {constructors} constructors "
      f"and {interface_methods} interface methods declare their exceptions, SLF4J bridge hooked, "
      f"{sum(hidden.values())} internal declarations hidden from the API docs")
