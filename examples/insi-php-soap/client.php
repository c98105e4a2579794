<?php
/*
 * An INSi client as vendors write it in PHP with the built-in SoapClient (ext-soap): a client
 * made from a WSDL (santeid's URL, or the WSDL file a program ships, its endpoint replaced by
 * the `location` option), SOAP 1.2, the context headers added as XML (SoapHeader holding a
 * SoapVar XSD_ANYXML), mutual TLS with an establishment certificate through the stream
 * context, and faults read as SoapFault.
 *
 * Input (stdin, JSON): {cert?, key?, ca, trace?, clients: [{wsdl, endpoint?, bearer?,
 * compression?, soap_version?, calls: [{name, operation, headers: [XML, or {namespace, name,
 * data, mustUnderstand?}], args}]}]}: `bearer` is a PSC access token sent in `Authorization`,
 * `soap_version` is "1.2" unless "1.1" is given, `compression` gzips the requests. A client
 * without `wsdl` is SoapClient's non-WSDL mode: {endpoint, uri, calls: [{name, operation,
 * headers, body (XML), soapaction?}]}. An argument {xsd, value} is sent as a SoapVar of that
 * XML Schema type ({"xsd": "date", "value": "1997-02-26"}: XSD_DATE).
 *
 * Output (stdout, JSON): per client {name: "<wsdl> operations", operations} (or {name, fault}
 * when SoapClient cannot load the WSDL), then per call {name, status, result} or {name,
 * status, fault}: fault holds what SoapFault exposes (faultcode, faultcodens, faultstring,
 * detail) and what it leaves out, read from the answer (subcode, erreur: {code, severite,
 * messageID, text}). With "trace": true each call adds {request, request_headers}, as
 * SoapClient sent them.
 */

function fromResponse($xml)
{
    // What SoapFault leaves out: the SOAP 1.2 subcode and siram:Erreur's attributes. A PHP
    // client reads them from the answer itself (SoapClient's `trace` option).
    $found = ['subcode' => null, 'erreur' => null];
    $document = new DOMDocument();
    if (!is_string($xml) || $xml === '' || !@$document->loadXML($xml, LIBXML_NONET)) {
        return $found;
    }
    $xpath = new DOMXPath($document);
    $xpath->registerNamespace('env', 'http://www.w3.org/2003/05/soap-envelope');
    $xpath->registerNamespace('siram', 'urn:siram');
    $subcode = $xpath->query('//env:Fault/env:Code/env:Subcode/env:Value');
    if ($subcode->length) {
        $found['subcode'] = trim($subcode->item(0)->textContent);
    }
    $erreur = $xpath->query("//*[local-name()='Fault']//siram:Erreur");  // SOAP 1.1's too
    if ($erreur->length) {
        $e = $erreur->item(0);
        $found['erreur'] = [
            'code' => $e->getAttribute('code') ?: null,
            'severite' => $e->getAttribute('severite') ?: null,
            'messageID' => $e->getAttribute('messageID') ?: null,
            'text' => $e->textContent,
        ];
    }
    return $found;
}

function status($client)
{
    $headers = (string) $client->__getLastResponseHeaders();
    return preg_match('#^HTTP/\S+ (\d{3})#', $headers, $m) ? (int) $m[1] : null;
}

function soapHeader($spec)
{
    if (is_string($spec)) {
        // An XML block sent as it is (XSD_ANYXML); SoapHeader still wants its name.
        $root = new SimpleXMLElement($spec);
        $namespaces = $root->getNamespaces();
        return new SoapHeader(reset($namespaces) ?: '', $root->getName(), new SoapVar($spec, XSD_ANYXML));
    }
    // {namespace, name, data, mustUnderstand?}: data encoded by SoapClient, with the type the
    // WSDL gives this header part when it declares one.
    return new SoapHeader($spec['namespace'], $spec['name'], $spec['data'], $spec['mustUnderstand'] ?? false);
}

function typed($value)
{
    // {"xsd": "date", "value": "1997-02-26"}: a value given as a SoapVar of that XML Schema
    // type, named as the manual's examples name it (type name and namespace).
    if (is_array($value) && array_keys($value) === ['xsd', 'value']) {
        $encoding = constant('XSD_' . strtoupper($value['xsd']));
        return new SoapVar($value['value'], $encoding, $value['xsd'], XSD_NAMESPACE);
    }
    return is_array($value) ? array_map('typed', $value) : $value;
}

function call($client, array $spec, bool $trace)
{
    $headers = array_map('soapHeader', $spec['headers']);
    $entry = ['name' => $spec['name']];
    try {
        if (isset($spec['body'])) {
            // Without a WSDL: the body element as XML, the action given by the caller.
            $args = [new SoapVar($spec['body'], XSD_ANYXML)];
            $options = isset($spec['soapaction']) ? ['soapaction' => $spec['soapaction']] : null;
        } else {
            $args = [typed($spec['args'])];
            $options = null;
        }
        $result = $client->__soapCall($spec['operation'], $args, $options, $headers);
        $entry['status'] = status($client);
        $entry['result'] = $result;
    } catch (SoapFault $fault) {
        $entry['status'] = status($client);
        $entry['fault'] = [
            'faultcode' => $fault->faultcode ?? null,
            'faultcodens' => $fault->faultcodens ?? null,
            'faultstring' => $fault->faultstring ?? null,
            'detail' => $fault->detail ?? null,
        ] + fromResponse($client->__getLastResponse());
    }
    if ($trace) {
        $entry['request'] = $client->__getLastRequest();
        $entry['request_headers'] = $client->__getLastRequestHeaders();
    }
    return $entry;
}

function main()
{
    ini_set('display_errors', 'stderr');  // warnings must not mix with the JSON output
    $input = json_decode(stream_get_contents(STDIN), true, 64, JSON_THROW_ON_ERROR);
    $ssl = ['cafile' => $input['ca'], 'verify_peer' => true, 'verify_peer_name' => true];
    if (isset($input['cert'])) {
        $ssl['local_cert'] = $input['cert'];
        $ssl['local_pk'] = $input['key'];
    }
    $trace = !empty($input['trace']);
    $results = [];
    foreach ($input['clients'] as $spec) {
        $context = ['ssl' => $ssl];
        if (isset($spec['bearer'])) {
            // Pro Santé Connect mode: the access token beside the assertion, in an HTTP header.
            $context['http'] = ['header' => 'Authorization: Bearer ' . $spec['bearer']];
        }
        $options = [
            'soap_version' => ($spec['soap_version'] ?? '1.2') === '1.1' ? SOAP_1_1 : SOAP_1_2,
            'stream_context' => stream_context_create($context),
            'cache_wsdl' => WSDL_CACHE_NONE,
            'trace' => true,
            'exceptions' => true,
            'connection_timeout' => 30,
        ];
        if (isset($spec['endpoint'])) {
            $options['location'] = $spec['endpoint'];
        }
        if (!empty($spec['compression'])) {
            // The option as PHP's manual shows it: the request is then sent gzip-compressed.
            $options['compression'] = SOAP_COMPRESSION_ACCEPT | SOAP_COMPRESSION_GZIP | 9;
        }
        if (!isset($spec['wsdl'])) {
            // SoapClient without a WSDL: document/literal, the endpoint and a namespace given.
            $options += ['location' => $spec['endpoint'], 'uri' => $spec['uri'],
                         'style' => SOAP_DOCUMENT, 'use' => SOAP_LITERAL];
            $client = new SoapClient(null, $options);
            foreach ($spec['calls'] as $c) {
                $results[] = call($client, $c, $trace);
            }
            continue;
        }
        try {
            $client = new SoapClient($spec['wsdl'], $options);
        } catch (SoapFault $fault) {
            $results[] = [
                'name' => $spec['wsdl'] . ' operations',
                'fault' => ['faultcode' => $fault->faultcode, 'faultstring' => $fault->faultstring],
            ];
            continue;
        }
        $operations = [];
        foreach ($client->__getFunctions() as $signature) {
            preg_match('/^\S+ (\w+)\(/', $signature, $m);
            $operations[] = $m[1];
        }
        sort($operations);
        $results[] = ['name' => $spec['wsdl'] . ' operations', 'operations' => $operations];
        foreach ($spec['calls'] as $c) {
            $results[] = call($client, $c, $trace);
        }
    }
    echo json_encode($results, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);
}

main();
