"""fedledger's governance chaincode: contracts plus the chaincode-as-a-service runtime."""
