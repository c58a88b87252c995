"""A chaincode-as-a-service runtime on Fabric's official protos.

The Hyperledger Python shim drops events, private data and errors (see ../shared/STACK.md),
so fedledger owns this small runtime: a gRPC ``Chaincode`` server the peer dials, a handler
speaking the shim protocol, and a stub with the calls contracts need.
"""
