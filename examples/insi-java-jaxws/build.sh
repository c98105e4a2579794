#!/bin/sh
# Generates the INSi client classes from a WSDL with JAX-WS's wsimport, as Java vendors do, and
# compiles them with Client.java. Usage:
#   build.sh WSDL OUT [P12 PASSWORD CA_PEM]
# WSDL: a URL or a file; over HTTPS, the establishment certificate (PKCS#12 P12 and its
# PASSWORD) and the server's authority (CA_PEM) are presented while fetching it. OUT receives
# src/, classes/ and classpath (the classpath to run Client with); with GENERATE_ONLY=1, only
# src/ (the classes of another WSDL than the search's). Needs Debian's jaxws and
# libjaxws-java, and a JDK (javac, keytool).
set -eu
WSDL=$1
OUT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
JARS=/usr/share/java/jaxws-rt.jar:/usr/share/java/jaxb-api.jar:/usr/share/java/jaxws-api.jar
JARS=$JARS:/usr/share/java/jws-api.jar:/usr/share/java/javax.activation.jar
mkdir -p "$OUT/src" "$OUT/classes"
# The WSDL's schemas are imported from the same server: the JDK refuses such imports unless
# accessExternalSchema allows them.
OPTS="-Djavax.xml.accessExternalSchema=all"
if [ $# -ge 5 ]; then
  rm -f "$OUT/trust.p12"
  keytool -importcert -noprompt -alias server-ca -file "$5" -keystore "$OUT/trust.p12" \
    -storetype PKCS12 -storepass changeit >/dev/null
  OPTS="$OPTS -Djavax.net.ssl.keyStore=$3 -Djavax.net.ssl.keyStorePassword=$4"
  OPTS="$OPTS -Djavax.net.ssl.keyStoreType=PKCS12 -Djavax.net.ssl.trustStore=$OUT/trust.p12"
  OPTS="$OPTS -Djavax.net.ssl.trustStorePassword=changeit"
fi
# -XadditionalHeaders: the header parts of the WSDL's binding (ContexteLPS, ContexteBAM,
# wsa:MessageID, wsse:Security) become parameters of the port's methods.
WSIMPORT_OPTS="$OPTS" wsimport -quiet -Xnocompile -XadditionalHeaders -extension \
  -s "$OUT/src" -d "$OUT/src" "$WSDL"
[ "${GENERATE_ONLY:-}" = 1 ] && exit 0
# shellcheck disable=SC2046
javac -nowarn -encoding UTF-8 -cp "$JARS" -d "$OUT/classes" \
  $(find "$OUT/src" -name '*.java') "$HERE/Client.java"
printf '%s\n' "$OUT/classes:$JARS" > "$OUT/classpath"
