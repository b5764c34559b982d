// The five contracts' interfaces as the agreed interface states them (ethers human-readable
// fragments). The compiled artifacts' ABIs are what calls and decoding use; these fragments name the
// part of each interface this code relies on, and a test checks that every one of them is in the
// compiled ABI, so a contract change that breaks the chain code fails there.
export type ContractName = 'VezaEditions' | 'VezaRecords' | 'SplitFactory' | 'VezaSplit' | 'VezaMarket' | 'LicenceRegistry';

/** The contracts' keys in ChainInfo.contracts and VEZA_NFT_CONTRACTS, with the artifact of each. */
export const CONTRACT_KEYS = { editions: 'VezaEditions', records: 'VezaRecords', splitFactory: 'SplitFactory', market: 'VezaMarket', licences: 'LicenceRegistry' } as const satisfies Record<string, ContractName>;
export type ContractKey = keyof typeof CONTRACT_KEYS;

const EDITION = 'tuple(address creator, address payoutTo, uint64 maxSupply, uint64 minted, uint64 mintStart, uint64 mintEnd, uint256 price, uint96 royaltyBps, string uri)';

export const FRAGMENTS: Record<ContractName, readonly string[]> = {
  VezaEditions: [
    'function createEdition(address creator, address payoutTo, uint64 maxSupply, uint64 mintStart, uint64 mintEnd, uint256 price, uint96 royaltyBps, string uri) returns (uint256)',
    'function mint(address to, uint256 tokenId, uint256 amount) payable',
    'function mintTo(address to, uint256 tokenId, uint256 amount)',
    `function edition(uint256 tokenId) view returns (${EDITION})`,
    'function setApprovalForAll(address operator, bool approved)',
    'function isApprovedForAll(address account, address operator) view returns (bool)',
    'function balanceOf(address account, uint256 id) view returns (uint256)',
    'event EditionCreated(uint256 indexed tokenId, address indexed creator, address payoutTo, uint64 maxSupply, uint64 mintStart, uint64 mintEnd, uint256 price, uint96 royaltyBps, string uri)',
    'event EditionMinted(uint256 indexed tokenId, address indexed to, uint256 amount, uint256 paid)',
    'event VoucherRedeemed(bytes32 indexed voucherHash, uint256 indexed tokenId)',
    'function mintWithVoucher(tuple(address creator, address payoutTo, uint64 maxSupply, uint64 mintStart, uint64 mintEnd, uint256 price, uint96 royaltyBps, string uri, uint256 nonce, uint256 deadline) v, bytes signature, address to, uint256 amount) payable returns (uint256)',
    'function hashVoucher(tuple(address creator, address payoutTo, uint64 maxSupply, uint64 mintStart, uint64 mintEnd, uint256 price, uint96 royaltyBps, string uri, uint256 nonce, uint256 deadline) v) view returns (bytes32)',
    'function voucherTokenId(bytes32 voucherHash) view returns (uint256)',
    'function royaltyInfo(uint256 tokenId, uint256 salePrice) view returns (address, uint256)',
    'error InvalidSignature()',
    'error VoucherExpired(uint256 deadline)',
    'error VoucherAlreadyUsed(bytes32 voucherHash)',
    'error SoldOut(uint256 tokenId, uint256 remaining)',
    'error WrongPayment(uint256 expected, uint256 sent)',
    'error UnknownToken(uint256 tokenId)',
  ],
  VezaRecords: [
    'function mintRecord(address to, address payoutTo, uint96 royaltyBps, string uri) returns (uint256)',
    'function setApprovalForAll(address operator, bool approved)',
    'function isApprovedForAll(address owner, address operator) view returns (bool)',
    'function ownerOf(uint256 tokenId) view returns (address)',
    'event RecordMinted(uint256 indexed tokenId, address indexed to, address payoutTo, uint96 royaltyBps, string uri)',
    'error RoyaltyTooHigh(uint96 bps)',
  ],
  SplitFactory: [
    'function createSplit(address[] recipients, uint32[] bps) returns (address)',
    'function predictSplit(address[] recipients, uint32[] bps) view returns (address)',
    'event SplitCreated(address indexed split, address[] recipients, uint32[] bps)',
    'error InvalidSplit(string reason)',
  ],
  VezaSplit: [
    'function releasable(address account) view returns (uint256)',
    'function release(address account)',
    'function releasable(address token, address account) view returns (uint256)',
    'function release(address token, address account)',
    'event PaymentReleased(address indexed account, uint256 amount)',
    'event ERC20PaymentReleased(address indexed token, address indexed account, uint256 amount)',
    'error NotARecipient(address account)',
    'error NothingToRelease(address account)',
  ],
  VezaMarket: [
    'function list(address token, uint256 tokenId, uint256 amount, address currency, uint256 pricePerUnit) returns (uint256)',
    'function buy(uint256 listingId, uint256 amount) payable',
    'function cancel(uint256 listingId)',
    'function listing(uint256 listingId) view returns (tuple(address seller, address token, uint256 tokenId, uint256 remaining, address currency, uint256 pricePerUnit, bool active))',
    'event Listed(uint256 indexed listingId, address indexed seller, address indexed token, uint256 tokenId, uint256 amount, address currency, uint256 pricePerUnit)',
    'event Sold(uint256 indexed listingId, address indexed buyer, uint256 amount, uint256 paid, address royaltyReceiver, uint256 royaltyPaid)',
    'event Cancelled(uint256 indexed listingId)',
    'error NotSeller(uint256 listingId)',
    'error ListingNotActive(uint256 listingId)',
    'error NotEnoughListed(uint256 remaining)',
  ],
  LicenceRegistry: [
    'function setLicence(address token, uint256 tokenId, uint8 terms, bytes32 audioHash, bytes32 stateHash)',
    'function licenceOf(address token, uint256 tokenId) view returns (uint8 terms, bytes32 audioHash, bytes32 stateHash, uint64 setAt)',
    'event LicenceSet(address indexed token, uint256 indexed tokenId, uint8 terms, bytes32 audioHash, bytes32 stateHash)',
    'error NotLicensor(address caller)',
    'error InvalidTerms(uint8 terms)',
  ],
};
