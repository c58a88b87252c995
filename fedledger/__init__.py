"""fedledger: federated learning for hospital consortia on Hyperledger Fabric."""

__version__ = "0.1.0"
