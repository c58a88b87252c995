"""The compliance console: server-rendered pages over the ledger for compliance officers and
hospital admins, served by the org that runs it and reading only through its own gateway peer.

Layout: :mod:`console.access` (who may read: a channel member's client certificate over mutual
TLS), :mod:`console.tls` (the client certificate handed from the TLS layer to the app),
:mod:`console.events` (the chaincode event stream: live updates and the transaction -> block
index), :mod:`console.reader` (what each view reads from the ledger, cached per block height),
:mod:`console.charts` (inline SVG), :mod:`console.app` (routes and templates).
"""
