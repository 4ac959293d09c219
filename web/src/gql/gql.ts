/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  query Me {\n    me {\n      account {\n        id\n        email\n        displayName\n        isAdmin\n      }\n    }\n  }\n": typeof types.MeDocument,
    "\n  mutation SignIn($input: SignInInput!) {\n    signIn(input: $input) {\n      account {\n        id\n        email\n        displayName\n        isAdmin\n      }\n    }\n  }\n": typeof types.SignInDocument,
    "\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      account {\n        id\n        email\n        displayName\n        isAdmin\n      }\n    }\n  }\n": typeof types.SignUpDocument,
    "\n  mutation SignOut {\n    signOut\n  }\n": typeof types.SignOutDocument,
    "\n  query Budget($mode: Mode!) {\n    me {\n      account {\n        id\n        email\n      }\n      wallet(mode: $mode) {\n        mode\n        available\n        credits\n        captured\n        held\n      }\n      connections(mode: $mode, first: 50) {\n        edges {\n          node {\n            id\n            mode\n            appUserId\n            status\n            monthlyCap\n            spentThisPeriod\n            held\n            remaining\n            resetsAt\n            createdAt\n            revokedAt\n            app {\n              id\n              name\n              allowedOrigins\n            }\n          }\n        }\n      }\n      receipts(mode: $mode, first: 50) {\n        edges {\n          node {\n            requestId\n            createdAt\n            model\n            status\n            stream\n            promptTokens\n            completionTokens\n            cost\n            charged\n            durationMs\n            app {\n              id\n              name\n            }\n          }\n        }\n      }\n    }\n  }\n": typeof types.BudgetDocument,
    "\n  mutation AddTestCredit($amount: Money!) {\n    addTestCredit(amount: $amount) {\n      mode\n      available\n      credits\n      captured\n      held\n    }\n  }\n": typeof types.AddTestCreditDocument,
    "\n  mutation SetConnectionCap($id: ID!, $cap: Money!) {\n    setConnectionCap(connectionId: $id, monthlyCap: $cap) {\n      id\n      monthlyCap\n      remaining\n      spentThisPeriod\n    }\n  }\n": typeof types.SetConnectionCapDocument,
    "\n  mutation RevokeConnection($id: ID!) {\n    revokeConnection(connectionId: $id) {\n      id\n      status\n      revokedAt\n      remaining\n    }\n  }\n": typeof types.RevokeConnectionDocument,
};
const documents: Documents = {
    "\n  query Me {\n    me {\n      account {\n        id\n        email\n        displayName\n        isAdmin\n      }\n    }\n  }\n": types.MeDocument,
    "\n  mutation SignIn($input: SignInInput!) {\n    signIn(input: $input) {\n      account {\n        id\n        email\n        displayName\n        isAdmin\n      }\n    }\n  }\n": types.SignInDocument,
    "\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      account {\n        id\n        email\n        displayName\n        isAdmin\n      }\n    }\n  }\n": types.SignUpDocument,
    "\n  mutation SignOut {\n    signOut\n  }\n": types.SignOutDocument,
    "\n  query Budget($mode: Mode!) {\n    me {\n      account {\n        id\n        email\n      }\n      wallet(mode: $mode) {\n        mode\n        available\n        credits\n        captured\n        held\n      }\n      connections(mode: $mode, first: 50) {\n        edges {\n          node {\n            id\n            mode\n            appUserId\n            status\n            monthlyCap\n            spentThisPeriod\n            held\n            remaining\n            resetsAt\n            createdAt\n            revokedAt\n            app {\n              id\n              name\n              allowedOrigins\n            }\n          }\n        }\n      }\n      receipts(mode: $mode, first: 50) {\n        edges {\n          node {\n            requestId\n            createdAt\n            model\n            status\n            stream\n            promptTokens\n            completionTokens\n            cost\n            charged\n            durationMs\n            app {\n              id\n              name\n            }\n          }\n        }\n      }\n    }\n  }\n": types.BudgetDocument,
    "\n  mutation AddTestCredit($amount: Money!) {\n    addTestCredit(amount: $amount) {\n      mode\n      available\n      credits\n      captured\n      held\n    }\n  }\n": types.AddTestCreditDocument,
    "\n  mutation SetConnectionCap($id: ID!, $cap: Money!) {\n    setConnectionCap(connectionId: $id, monthlyCap: $cap) {\n      id\n      monthlyCap\n      remaining\n      spentThisPeriod\n    }\n  }\n": types.SetConnectionCapDocument,
    "\n  mutation RevokeConnection($id: ID!) {\n    revokeConnection(connectionId: $id) {\n      id\n      status\n      revokedAt\n      remaining\n    }\n  }\n": types.RevokeConnectionDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Me {\n    me {\n      account {\n        id\n        email\n        displayName\n        isAdmin\n      }\n    }\n  }\n"): (typeof documents)["\n  query Me {\n    me {\n      account {\n        id\n        email\n        displayName\n        isAdmin\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SignIn($input: SignInInput!) {\n    signIn(input: $input) {\n      account {\n        id\n        email\n        displayName\n        isAdmin\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SignIn($input: SignInInput!) {\n    signIn(input: $input) {\n      account {\n        id\n        email\n        displayName\n        isAdmin\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      account {\n        id\n        email\n        displayName\n        isAdmin\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      account {\n        id\n        email\n        displayName\n        isAdmin\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SignOut {\n    signOut\n  }\n"): (typeof documents)["\n  mutation SignOut {\n    signOut\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Budget($mode: Mode!) {\n    me {\n      account {\n        id\n        email\n      }\n      wallet(mode: $mode) {\n        mode\n        available\n        credits\n        captured\n        held\n      }\n      connections(mode: $mode, first: 50) {\n        edges {\n          node {\n            id\n            mode\n            appUserId\n            status\n            monthlyCap\n            spentThisPeriod\n            held\n            remaining\n            resetsAt\n            createdAt\n            revokedAt\n            app {\n              id\n              name\n              allowedOrigins\n            }\n          }\n        }\n      }\n      receipts(mode: $mode, first: 50) {\n        edges {\n          node {\n            requestId\n            createdAt\n            model\n            status\n            stream\n            promptTokens\n            completionTokens\n            cost\n            charged\n            durationMs\n            app {\n              id\n              name\n            }\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query Budget($mode: Mode!) {\n    me {\n      account {\n        id\n        email\n      }\n      wallet(mode: $mode) {\n        mode\n        available\n        credits\n        captured\n        held\n      }\n      connections(mode: $mode, first: 50) {\n        edges {\n          node {\n            id\n            mode\n            appUserId\n            status\n            monthlyCap\n            spentThisPeriod\n            held\n            remaining\n            resetsAt\n            createdAt\n            revokedAt\n            app {\n              id\n              name\n              allowedOrigins\n            }\n          }\n        }\n      }\n      receipts(mode: $mode, first: 50) {\n        edges {\n          node {\n            requestId\n            createdAt\n            model\n            status\n            stream\n            promptTokens\n            completionTokens\n            cost\n            charged\n            durationMs\n            app {\n              id\n              name\n            }\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation AddTestCredit($amount: Money!) {\n    addTestCredit(amount: $amount) {\n      mode\n      available\n      credits\n      captured\n      held\n    }\n  }\n"): (typeof documents)["\n  mutation AddTestCredit($amount: Money!) {\n    addTestCredit(amount: $amount) {\n      mode\n      available\n      credits\n      captured\n      held\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetConnectionCap($id: ID!, $cap: Money!) {\n    setConnectionCap(connectionId: $id, monthlyCap: $cap) {\n      id\n      monthlyCap\n      remaining\n      spentThisPeriod\n    }\n  }\n"): (typeof documents)["\n  mutation SetConnectionCap($id: ID!, $cap: Money!) {\n    setConnectionCap(connectionId: $id, monthlyCap: $cap) {\n      id\n      monthlyCap\n      remaining\n      spentThisPeriod\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RevokeConnection($id: ID!) {\n    revokeConnection(connectionId: $id) {\n      id\n      status\n      revokedAt\n      remaining\n    }\n  }\n"): (typeof documents)["\n  mutation RevokeConnection($id: ID!) {\n    revokeConnection(connectionId: $id) {\n      id\n      status\n      revokedAt\n      remaining\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;