'use strict';
/*
 * An INSi client as vendors write it with the npm `soap` package: a client created from a WSDL
 * (santeid's URL, or a WSDL file shipped with the program whose endpoint is replaced), the
 * context headers added as XML, mutual TLS with an establishment certificate, and faults read
 * the way such clients read them: only on HTTP 500, from the parsed SOAP fault.
 *
 * Input (stdin, JSON): {cert, key, ca, clients: [{wsdl, endpoint?, calls: [{name, operation,
 * headers: [xml...], args}]}]}. Output (stdout, JSON): one entry per call, {name, result} or
 * {name, status, fault: {code, subcode, reason, erreur: {code, severite, messageID, text}}}
 * or {name, status, error} for anything the client cannot read as an INSi answer.
 */
const fs = require('fs');
const https = require('https');
const soap = require('soap');

function text(node) {
  if (node === undefined || node === null) return null;
  if (typeof node === 'object') return node.$value !== undefined ? String(node.$value) : null;
  return String(node);
}

function readFault(fault) {
  const erreur = fault.Detail && fault.Detail.Erreur;
  const attributes = (erreur && erreur.attributes) || {};
  return {
    code: text(fault.Code && fault.Code.Value),
    subcode: text(fault.Code && fault.Code.Subcode && fault.Code.Subcode.Value),
    reason: text(fault.Reason && fault.Reason.Text),
    erreur: erreur
      ? {
          code: attributes.code || null,
          severite: attributes.severite || null,
          messageID: attributes.messageID || null,
          text: text(erreur),
        }
      : null,
  };
}

async function call(client, spec) {
  client.clearSoapHeaders();
  for (const header of spec.headers) client.addSoapHeader(header);
  try {
    const [result] = await client[`${spec.operation}Async`](spec.args);
    return { name: spec.name, result };
  } catch (err) {
    const status = err.response ? err.response.status : null;
    const fault = err.root && err.root.Envelope && err.root.Envelope.Body && err.root.Envelope.Body.Fault;
    // The real service answers every fault with 500: that is where the client reads one.
    if (status === 500 && fault) return { name: spec.name, status, fault: readFault(fault) };
    return { name: spec.name, status, error: String(err.message).slice(0, 500) };
  }
}

async function main() {
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  const agent = new https.Agent({
    cert: fs.readFileSync(input.cert),
    key: fs.readFileSync(input.key),
    ca: fs.readFileSync(input.ca),
  });
  const results = [];
  for (const spec of input.clients) {
    const client = await soap.createClientAsync(spec.wsdl, {
      forceSoap12Headers: true,
      wsdl_options: { httpsAgent: agent },
    });
    if (spec.endpoint) client.setEndpoint(spec.endpoint);
    client.setSecurity(new soap.ClientSSLSecurity(input.key, input.cert, input.ca));
    const description = client.describe();
    const service = Object.keys(description)[0];
    const port = Object.keys(description[service])[0];
    results.push({ name: `${spec.wsdl} operations`, operations: Object.keys(description[service][port]).sort() });
    for (const c of spec.calls) results.push(await call(client, c));
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
