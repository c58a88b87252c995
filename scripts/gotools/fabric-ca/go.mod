module fedledger.local/tools

go 1.24.2

require github.com/hyperledger/fabric-ca v1.5.15
