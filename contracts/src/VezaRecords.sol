// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC2981} from "@openzeppelin/contracts/token/common/ERC2981.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ICreatorOf} from "./ICreatorOf.sol";

/// @title VezaRecords
/// @notice One-of-one records (ERC-721): the platform's operator mints a record of a session to its
/// creator, with its own metadata uri and ERC-2981 royalty (receiver `payoutTo`, at most 50 %).
/// @dev The first owner (`to` at mint) is kept as the record's creator: the licence registry lets the
/// creator set the record's licence even after the record was sold.
contract VezaRecords is ERC721, ERC2981, AccessControl, ICreatorOf {
    /// @notice May mint records.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice The largest royalty a record may carry, in basis points (50 %).
    uint96 public constant MAX_ROYALTY_BPS = 5000;

    event RecordMinted(uint256 indexed tokenId, address indexed to, address payoutTo, uint96 royaltyBps, string uri);

    error RoyaltyTooHigh(uint96 bps);
    error ZeroAddress();
    /// @notice No record has this id.
    error UnknownToken(uint256 tokenId);

    mapping(uint256 tokenId => string) private _uris;
    mapping(uint256 tokenId => address) private _creators;
    uint256 private _lastTokenId;

    /// @notice The deployer becomes admin and minter (the platform's operator key).
    constructor() ERC721("Veza Records", "VEZAREC") {
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
        _grantRole(MINTER_ROLE, msg.sender);
    }

    /// @notice Mints the next record (ids 1, 2, 3…) to `to`.
    /// @param payoutTo The royalty receiver (normally a VezaSplit).
    /// @param royaltyBps At most MAX_ROYALTY_BPS.
    /// @param uri_ The metadata's `ipfs://<cid>`.
    function mintRecord(address to, address payoutTo, uint96 royaltyBps, string calldata uri_)
        external
        onlyRole(MINTER_ROLE)
        returns (uint256 tokenId)
    {
        if (to == address(0) || payoutTo == address(0)) revert ZeroAddress();
        if (royaltyBps > MAX_ROYALTY_BPS) revert RoyaltyTooHigh(royaltyBps);
        tokenId = ++_lastTokenId;
        _uris[tokenId] = uri_;
        _creators[tokenId] = to;
        _setTokenRoyalty(tokenId, payoutTo, royaltyBps);
        emit RecordMinted(tokenId, to, payoutTo, royaltyBps, uri_);
        _safeMint(to, tokenId);
    }

    /// @notice The record's metadata uri (`ipfs://<cid>`).
    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        _known(tokenId);
        return _uris[tokenId];
    }

    /// @notice The number of records minted (the last token id).
    function recordCount() external view returns (uint256) {
        return _lastTokenId;
    }

    /// @inheritdoc ICreatorOf
    function creatorOf(uint256 tokenId) external view returns (address) {
        return _known(tokenId);
    }

    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(ERC721, ERC2981, AccessControl)
        returns (bool)
    {
        return super.supportsInterface(interfaceId);
    }

    function _known(uint256 tokenId) private view returns (address creator) {
        creator = _creators[tokenId];
        if (creator == address(0)) revert UnknownToken(tokenId);
    }
}
