// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ICreatorOf} from "./ICreatorOf.sol";

/// @title LicenceRegistry
/// @notice The licence a token's creator grants on the music behind it: a set of terms, and the hashes
/// that pin what is licensed (the audio file and the session's collaborative state at that moment).
/// @dev `audioHash` is the SHA-256 of the audio file's bytes; `stateHash` the SHA-256 of the session's Yjs
/// state update (Y.encodeStateAsUpdate of the document replayed at that version). Setting a licence
/// again replaces it; every change is an event.
contract LicenceRegistry is AccessControl {
    /// @notice May set the licence of any token (the platform's operator key).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    uint8 public constant PERSONAL = 1;
    uint8 public constant SYNC = 2;
    uint8 public constant COMMERCIAL = 4;
    uint8 public constant EXCLUSIVE = 8;

    /// @dev Three slots: the two hashes, then the terms and the time packed together.
    struct Licence {
        bytes32 audioHash;
        bytes32 stateHash;
        uint8 terms;
        uint64 setAt;
    }

    event LicenceSet(address indexed token, uint256 indexed tokenId, uint8 terms, bytes32 audioHash, bytes32 stateHash);

    error NotLicensor(address caller);
    error InvalidTerms(uint8 terms);
    error UnknownToken(uint256 tokenId);

    mapping(address token => mapping(uint256 tokenId => Licence)) private _licences;

    /// @notice The deployer becomes admin and minter (the platform's operator key).
    constructor() {
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
        _grantRole(MINTER_ROLE, msg.sender);
    }

    /// @notice Sets the licence of `token` #`tokenId` (a VezaEditions or VezaRecords token): only its
    /// creator or a MINTER_ROLE holder may. `terms` is a non-empty set of PERSONAL | SYNC | COMMERCIAL |
    /// EXCLUSIVE, and EXCLUSIVE only with COMMERCIAL.
    function setLicence(address token, uint256 tokenId, uint8 terms, bytes32 audioHash, bytes32 stateHash) external {
        address creator = _creatorOf(token, tokenId);
        if (msg.sender != creator && !hasRole(MINTER_ROLE, msg.sender)) revert NotLicensor(msg.sender);
        if (terms == 0 || terms > 15 || (terms & EXCLUSIVE != 0 && terms & COMMERCIAL == 0)) revert InvalidTerms(terms);
        _licences[token][tokenId] = Licence(audioHash, stateHash, terms, uint64(block.timestamp));
        emit LicenceSet(token, tokenId, terms, audioHash, stateHash);
    }

    /// @notice The licence of `token` #`tokenId`; all zero (setAt 0) while none was set.
    function licenceOf(address token, uint256 tokenId)
        external
        view
        returns (uint8 terms, bytes32 audioHash, bytes32 stateHash, uint64 setAt)
    {
        Licence storage l = _licences[token][tokenId];
        return (l.terms, l.audioHash, l.stateHash, l.setAt);
    }

    /// @dev The token contract's record of the creator; a token it does not know (or a contract that
    /// keeps no creators) is unknown here.
    function _creatorOf(address token, uint256 tokenId) private view returns (address creator) {
        if (token.code.length == 0) revert UnknownToken(tokenId);
        try ICreatorOf(token).creatorOf(tokenId) returns (address c) {
            creator = c;
        } catch {
            revert UnknownToken(tokenId);
        }
        if (creator == address(0)) revert UnknownToken(tokenId);
    }
}
