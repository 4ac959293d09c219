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
    "\n  fragment AccountFields on Account {\n    id\n    email\n    displayName\n    isAdmin\n  }\n": typeof types.AccountFieldsFragmentDoc,
    "\n  query Me {\n    me {\n      account {\n        ...AccountFields\n      }\n    }\n  }\n": typeof types.MeDocument,
    "\n  mutation SignIn($input: SignInInput!) {\n    signIn(input: $input) {\n      account {\n        ...AccountFields\n      }\n    }\n  }\n": typeof types.SignInDocument,
    "\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      account {\n        ...AccountFields\n      }\n    }\n  }\n": typeof types.SignUpDocument,
    "\n  mutation SignOut {\n    signOut\n  }\n": typeof types.SignOutDocument,
    "\n  fragment UsageDayFields on UsageDay {\n    day\n    requests\n    promptTokens\n    completionTokens\n    cost\n  }\n": typeof types.UsageDayFieldsFragmentDoc,
    "\n  fragment ModelUsageFields on ModelUsage {\n    modelId\n    model {\n      id\n      displayName\n    }\n    requests\n    promptTokens\n    completionTokens\n    cost\n  }\n": typeof types.ModelUsageFieldsFragmentDoc,
    "\n  query AdminConsole($mode: Mode!, $from: Time!, $to: Time!) {\n    admin {\n      usageByDay(mode: $mode, from: $from, to: $to) {\n        ...UsageDayFields\n      }\n      usageByApp(mode: $mode, from: $from, to: $to, first: 20) {\n        app {\n          id\n          name\n          suspended\n        }\n        requests\n        promptTokens\n        completionTokens\n        cost\n      }\n      usageByModel(mode: $mode, from: $from, to: $to) {\n        ...ModelUsageFields\n      }\n    }\n  }\n": typeof types.AdminConsoleDocument,
    "\n  query AdminOverrun($mode: Mode!) {\n    admin {\n      overrun(mode: $mode, latest: 10) {\n        periodStart\n        total\n        requests\n        latest {\n          requestId\n          createdAt\n          appId\n          appUserId\n          model\n          status\n          cost\n          charged\n          overrun\n        }\n      }\n      abandonedLeases(mode: $mode, latest: 10) {\n        requestId\n        createdAt\n        processId\n        appId\n        appUserId\n        charged\n      }\n    }\n  }\n": typeof types.AdminOverrunDocument,
    "\n  query AdminApps($after: String) {\n    admin {\n      apps(first: 20, after: $after) {\n        edges {\n          node {\n            id\n            name\n            allowedOrigins\n            suspended\n            suspendedAt\n            suspendedReason\n            createdAt\n            owner {\n              id\n              email\n            }\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n": typeof types.AdminAppsDocument,
    "\n  query AdminAccounts($after: String) {\n    admin {\n      accounts(first: 20, after: $after) {\n        edges {\n          node {\n            id\n            email\n            displayName\n            isAdmin\n            createdAt\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n": typeof types.AdminAccountsDocument,
    "\n  fragment CatalogModelFields on Model {\n    id\n    displayName\n    upstream\n    upstreamModel\n    kind\n    enabled\n    disabledReason\n    promptPerMillion\n    completionPerMillion\n    upstreamPromptPerMillion\n    upstreamCompletionPerMillion\n    markupBps\n    ownMarkupBps\n    contextLength\n    maxOutputTokens\n  }\n": typeof types.CatalogModelFieldsFragmentDoc,
    "\n  query AdminCatalog($search: String!) {\n    admin {\n      globalMarkupBps\n      catalog(search: $search, first: 50) {\n        total\n        models {\n          ...CatalogModelFields\n        }\n      }\n      lastCatalogSync {\n        id\n        source\n        startedAt\n        finishedAt\n        error\n        listed\n        added\n        changed\n        disabled\n        changes {\n          modelId\n          kind\n          field\n          old\n          new\n        }\n      }\n    }\n  }\n": typeof types.AdminCatalogDocument,
    "\n  mutation SetModelEnabled($modelId: ID!, $enabled: Boolean!) {\n    setModelEnabled(modelId: $modelId, enabled: $enabled) {\n      ...CatalogModelFields\n    }\n  }\n": typeof types.SetModelEnabledDocument,
    "\n  mutation SetModelMarkup($modelId: ID!, $markupBps: Int) {\n    setModelMarkup(modelId: $modelId, markupBps: $markupBps) {\n      ...CatalogModelFields\n    }\n  }\n": typeof types.SetModelMarkupDocument,
    "\n  mutation SetGlobalMarkup($markupBps: Int!) {\n    setGlobalMarkup(markupBps: $markupBps)\n  }\n": typeof types.SetGlobalMarkupDocument,
    "\n  mutation SuspendApp($appId: ID!, $reason: String!) {\n    suspendApp(appId: $appId, reason: $reason) {\n      id\n      suspended\n      suspendedAt\n      suspendedReason\n    }\n  }\n": typeof types.SuspendAppDocument,
    "\n  mutation UnsuspendApp($appId: ID!) {\n    unsuspendApp(appId: $appId) {\n      id\n      suspended\n      suspendedAt\n      suspendedReason\n    }\n  }\n": typeof types.UnsuspendAppDocument,
    "\n  mutation UpdateModelPrice($input: UpdateModelPriceInput!) {\n    updateModelPrice(input: $input) {\n      id\n      promptPerMillion\n      completionPerMillion\n    }\n  }\n": typeof types.UpdateModelPriceDocument,
    "\n  query AdminUpstreamKeys {\n    admin {\n      upstreamKeys(latest: 50) {\n        enabled\n        checks {\n          connectionId\n          period\n          checkedAt\n          metered\n          upstream\n          drift\n          limit\n          disabled\n        }\n      }\n    }\n  }\n": typeof types.AdminUpstreamKeysDocument,
    "\n  query AdminReconciliation {\n    admin {\n      reconciliation {\n        checkedAt\n        payments\n        ledgerNet\n        stripeNet\n        lines {\n          topUpId\n          chargeId\n          accountId\n          ledger\n          stripe\n          problem\n        }\n        refusedEvents {\n          eventId\n          type\n          topUpId\n          outcome\n          receivedAt\n        }\n      }\n    }\n  }\n": typeof types.AdminReconciliationDocument,
    "\n  query AdminAccountChoices {\n    admin {\n      accounts(first: 100) {\n        edges {\n          node {\n            id\n            email\n          }\n        }\n      }\n    }\n  }\n": typeof types.AdminAccountChoicesDocument,
    "\n  query AdminAccountWallet($id: ID!) {\n    admin {\n      accountWallet(accountId: $id) {\n        mode\n        available\n        credits\n        captured\n        held\n        takenBack\n        frozen\n        ledger(first: 50) {\n          edges {\n            node {\n              id\n              kind\n              source\n              amount\n              description\n              topUpId\n              createdAt\n            }\n          }\n        }\n      }\n    }\n  }\n": typeof types.AdminAccountWalletDocument,
    "\n  mutation GrantCredit($id: ID!, $amount: Money!, $reason: String!) {\n    grantCredit(accountId: $id, amount: $amount, reason: $reason) {\n      mode\n      available\n      credits\n    }\n  }\n": typeof types.GrantCreditDocument,
    "\n  fragment WalletFields on Wallet {\n    mode\n    available\n    credits\n    captured\n    held\n  }\n": typeof types.WalletFieldsFragmentDoc,
    "\n  query Budget($mode: Mode!) {\n    me {\n      account {\n        id\n        email\n      }\n      wallet(mode: $mode) {\n        ...WalletFields\n      }\n      connections(mode: $mode, first: 50) {\n        edges {\n          node {\n            id\n            mode\n            appUserId\n            status\n            monthlyCap\n            spentThisPeriod\n            held\n            remaining\n            resetsAt\n            createdAt\n            revokedAt\n            app {\n              id\n              name\n              allowedOrigins\n            }\n          }\n        }\n      }\n    }\n  }\n": typeof types.BudgetDocument,
    "\n  query BudgetReceipts($mode: Mode!, $after: String) {\n    me {\n      account {\n        id\n      }\n      receipts(mode: $mode, first: 20, after: $after) {\n        edges {\n          node {\n            requestId\n            createdAt\n            model\n            status\n            stream\n            promptTokens\n            completionTokens\n            cost\n            charged\n            durationMs\n            app {\n              id\n              name\n            }\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n": typeof types.BudgetReceiptsDocument,
    "\n  query WalletLedger($mode: Mode!, $after: String) {\n    me {\n      account {\n        id\n      }\n      wallet(mode: $mode) {\n        mode\n        ledger(first: 10, after: $after) {\n          edges {\n            node {\n              id\n              kind\n              amount\n              description\n              createdAt\n            }\n          }\n          pageInfo {\n            hasNextPage\n            endCursor\n          }\n        }\n      }\n    }\n  }\n": typeof types.WalletLedgerDocument,
    "\n  mutation AddTestCredit($amount: Money!) {\n    addTestCredit(amount: $amount) {\n      ...WalletFields\n    }\n  }\n": typeof types.AddTestCreditDocument,
    "\n  mutation SetConnectionCap($id: ID!, $cap: Money!) {\n    setConnectionCap(connectionId: $id, monthlyCap: $cap) {\n      id\n      monthlyCap\n      remaining\n      spentThisPeriod\n    }\n  }\n": typeof types.SetConnectionCapDocument,
    "\n  mutation RevokeConnection($id: ID!) {\n    revokeConnection(connectionId: $id) {\n      id\n      status\n      revokedAt\n      remaining\n    }\n  }\n": typeof types.RevokeConnectionDocument,
    "\n  query ModelNames {\n    models {\n      id\n      displayName\n    }\n  }\n": typeof types.ModelNamesDocument,
    "\n  query Funds {\n    me {\n      account {\n        id\n      }\n      payments {\n        configured\n        minTopUp\n        maxTopUp\n      }\n      wallet(mode: LIVE) {\n        mode\n        available\n        frozen\n        takenBack\n      }\n      autoRecharge {\n        enabled\n        threshold\n        amount\n        cardSaved\n        disabledReason\n      }\n      topUps(first: 10) {\n        edges {\n          node {\n            id\n            amount\n            status\n            source\n            checkoutUrl\n            receiptUrl\n            refunded\n            failure\n            createdAt\n            creditedAt\n          }\n        }\n      }\n    }\n  }\n": typeof types.FundsDocument,
    "\n  mutation StartTopUp($amount: Money!) {\n    startTopUp(amount: $amount) {\n      id\n      amount\n      status\n      checkoutUrl\n    }\n  }\n": typeof types.StartTopUpDocument,
    "\n  mutation SetAutoRecharge($enabled: Boolean!, $threshold: Money, $amount: Money) {\n    setAutoRecharge(enabled: $enabled, threshold: $threshold, amount: $amount) {\n      enabled\n      threshold\n      amount\n      cardSaved\n      disabledReason\n    }\n  }\n": typeof types.SetAutoRechargeDocument,
    "\n  fragment ApiKeyFields on ApiKey {\n    id\n    mode\n    hint\n    createdAt\n    expiresAt\n    revokedAt\n    active\n  }\n": typeof types.ApiKeyFieldsFragmentDoc,
    "\n  query DashboardApps($after: String) {\n    me {\n      account {\n        id\n      }\n      apps(first: 20, after: $after) {\n        edges {\n          node {\n            id\n            name\n            allowedOrigins\n            suspended\n            createdAt\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n": typeof types.DashboardAppsDocument,
    "\n  mutation CreateApp($input: CreateAppInput!) {\n    createApp(input: $input) {\n      id\n      name\n      allowedOrigins\n    }\n  }\n": typeof types.CreateAppDocument,
    "\n  query DashboardApp($id: ID!, $mode: Mode!, $from: Time!, $to: Time!) {\n    app(id: $id) {\n      id\n      name\n      allowedOrigins\n      suspended\n      suspendedAt\n      suspendedReason\n      createdAt\n      owner {\n        id\n        email\n      }\n      publishableKeys {\n        mode\n        key\n      }\n      keys(mode: $mode) {\n        ...ApiKeyFields\n      }\n      usageByDay(mode: $mode, from: $from, to: $to) {\n        ...UsageDayFields\n      }\n      usageByModel(mode: $mode, from: $from, to: $to) {\n        ...ModelUsageFields\n      }\n      usageByUser(mode: $mode, from: $from, to: $to, first: 20) {\n        connectionId\n        appUserId\n        requests\n        promptTokens\n        completionTokens\n        cost\n      }\n    }\n  }\n": typeof types.DashboardAppDocument,
    "\n  query AppConnections($id: ID!, $mode: Mode!, $after: String) {\n    app(id: $id) {\n      id\n      connections(mode: $mode, first: 10, after: $after) {\n        edges {\n          node {\n            id\n            appUserId\n            status\n            monthlyCap\n            spentThisPeriod\n            createdAt\n            revokedAt\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n": typeof types.AppConnectionsDocument,
    "\n  mutation UpdateApp($input: UpdateAppInput!) {\n    updateApp(input: $input) {\n      id\n      name\n      allowedOrigins\n    }\n  }\n": typeof types.UpdateAppDocument,
    "\n  mutation CreateKey($appId: ID!, $mode: Mode!) {\n    createKey(appId: $appId, mode: $mode) {\n      secret\n      key {\n        ...ApiKeyFields\n      }\n    }\n  }\n": typeof types.CreateKeyDocument,
    "\n  mutation RollKey($keyId: ID!, $overlapSeconds: Int!) {\n    rollKey(keyId: $keyId, overlapSeconds: $overlapSeconds) {\n      secret\n      key {\n        ...ApiKeyFields\n      }\n    }\n  }\n": typeof types.RollKeyDocument,
    "\n  mutation RevokeKey($keyId: ID!) {\n    revokeKey(keyId: $keyId) {\n      id\n      active\n      revokedAt\n    }\n  }\n": typeof types.RevokeKeyDocument,
    "\n  query DashboardModels {\n    models {\n      id\n      displayName\n      kind\n      upstream\n      enabled\n      promptPerMillion\n      completionPerMillion\n      markupBps\n      contextLength\n      maxOutputTokens\n    }\n  }\n": typeof types.DashboardModelsDocument,
    "\n  query WebhookEndpoints($id: ID!) {\n    webhookEventTypes\n    app(id: $id) {\n      id\n      webhookEndpoints {\n        id\n        mode\n        url\n        events\n        enabled\n        disabledReason\n        disabledAt\n        previousSecretExpiresAt\n        createdAt\n        deliveries(first: 10) {\n          id\n          eventId\n          eventType\n          status\n          attempts\n          responseCode\n          error\n          createdAt\n          lastAttemptAt\n          nextAttemptAt\n        }\n      }\n    }\n  }\n": typeof types.WebhookEndpointsDocument,
    "\n  mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {\n    createWebhookEndpoint(input: $input) {\n      endpoint {\n        id\n        url\n      }\n      secret\n    }\n  }\n": typeof types.CreateWebhookEndpointDocument,
    "\n  mutation UpdateWebhookEndpoint($input: UpdateWebhookEndpointInput!) {\n    updateWebhookEndpoint(input: $input) {\n      id\n      enabled\n    }\n  }\n": typeof types.UpdateWebhookEndpointDocument,
    "\n  mutation RollWebhookSecret($id: ID!) {\n    rollWebhookSecret(endpointId: $id) {\n      endpoint {\n        id\n        url\n      }\n      secret\n    }\n  }\n": typeof types.RollWebhookSecretDocument,
    "\n  mutation DeleteWebhookEndpoint($id: ID!) {\n    deleteWebhookEndpoint(endpointId: $id)\n  }\n": typeof types.DeleteWebhookEndpointDocument,
    "\n  mutation SendTestWebhook($id: ID!) {\n    sendTestWebhookEvent(endpointId: $id) {\n      id\n    }\n  }\n": typeof types.SendTestWebhookDocument,
    "\n  mutation ResendWebhook($id: ID!) {\n    resendWebhookDelivery(deliveryId: $id) {\n      id\n    }\n  }\n": typeof types.ResendWebhookDocument,
};
const documents: Documents = {
    "\n  fragment AccountFields on Account {\n    id\n    email\n    displayName\n    isAdmin\n  }\n": types.AccountFieldsFragmentDoc,
    "\n  query Me {\n    me {\n      account {\n        ...AccountFields\n      }\n    }\n  }\n": types.MeDocument,
    "\n  mutation SignIn($input: SignInInput!) {\n    signIn(input: $input) {\n      account {\n        ...AccountFields\n      }\n    }\n  }\n": types.SignInDocument,
    "\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      account {\n        ...AccountFields\n      }\n    }\n  }\n": types.SignUpDocument,
    "\n  mutation SignOut {\n    signOut\n  }\n": types.SignOutDocument,
    "\n  fragment UsageDayFields on UsageDay {\n    day\n    requests\n    promptTokens\n    completionTokens\n    cost\n  }\n": types.UsageDayFieldsFragmentDoc,
    "\n  fragment ModelUsageFields on ModelUsage {\n    modelId\n    model {\n      id\n      displayName\n    }\n    requests\n    promptTokens\n    completionTokens\n    cost\n  }\n": types.ModelUsageFieldsFragmentDoc,
    "\n  query AdminConsole($mode: Mode!, $from: Time!, $to: Time!) {\n    admin {\n      usageByDay(mode: $mode, from: $from, to: $to) {\n        ...UsageDayFields\n      }\n      usageByApp(mode: $mode, from: $from, to: $to, first: 20) {\n        app {\n          id\n          name\n          suspended\n        }\n        requests\n        promptTokens\n        completionTokens\n        cost\n      }\n      usageByModel(mode: $mode, from: $from, to: $to) {\n        ...ModelUsageFields\n      }\n    }\n  }\n": types.AdminConsoleDocument,
    "\n  query AdminOverrun($mode: Mode!) {\n    admin {\n      overrun(mode: $mode, latest: 10) {\n        periodStart\n        total\n        requests\n        latest {\n          requestId\n          createdAt\n          appId\n          appUserId\n          model\n          status\n          cost\n          charged\n          overrun\n        }\n      }\n      abandonedLeases(mode: $mode, latest: 10) {\n        requestId\n        createdAt\n        processId\n        appId\n        appUserId\n        charged\n      }\n    }\n  }\n": types.AdminOverrunDocument,
    "\n  query AdminApps($after: String) {\n    admin {\n      apps(first: 20, after: $after) {\n        edges {\n          node {\n            id\n            name\n            allowedOrigins\n            suspended\n            suspendedAt\n            suspendedReason\n            createdAt\n            owner {\n              id\n              email\n            }\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n": types.AdminAppsDocument,
    "\n  query AdminAccounts($after: String) {\n    admin {\n      accounts(first: 20, after: $after) {\n        edges {\n          node {\n            id\n            email\n            displayName\n            isAdmin\n            createdAt\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n": types.AdminAccountsDocument,
    "\n  fragment CatalogModelFields on Model {\n    id\n    displayName\n    upstream\n    upstreamModel\n    kind\n    enabled\n    disabledReason\n    promptPerMillion\n    completionPerMillion\n    upstreamPromptPerMillion\n    upstreamCompletionPerMillion\n    markupBps\n    ownMarkupBps\n    contextLength\n    maxOutputTokens\n  }\n": types.CatalogModelFieldsFragmentDoc,
    "\n  query AdminCatalog($search: String!) {\n    admin {\n      globalMarkupBps\n      catalog(search: $search, first: 50) {\n        total\n        models {\n          ...CatalogModelFields\n        }\n      }\n      lastCatalogSync {\n        id\n        source\n        startedAt\n        finishedAt\n        error\n        listed\n        added\n        changed\n        disabled\n        changes {\n          modelId\n          kind\n          field\n          old\n          new\n        }\n      }\n    }\n  }\n": types.AdminCatalogDocument,
    "\n  mutation SetModelEnabled($modelId: ID!, $enabled: Boolean!) {\n    setModelEnabled(modelId: $modelId, enabled: $enabled) {\n      ...CatalogModelFields\n    }\n  }\n": types.SetModelEnabledDocument,
    "\n  mutation SetModelMarkup($modelId: ID!, $markupBps: Int) {\n    setModelMarkup(modelId: $modelId, markupBps: $markupBps) {\n      ...CatalogModelFields\n    }\n  }\n": types.SetModelMarkupDocument,
    "\n  mutation SetGlobalMarkup($markupBps: Int!) {\n    setGlobalMarkup(markupBps: $markupBps)\n  }\n": types.SetGlobalMarkupDocument,
    "\n  mutation SuspendApp($appId: ID!, $reason: String!) {\n    suspendApp(appId: $appId, reason: $reason) {\n      id\n      suspended\n      suspendedAt\n      suspendedReason\n    }\n  }\n": types.SuspendAppDocument,
    "\n  mutation UnsuspendApp($appId: ID!) {\n    unsuspendApp(appId: $appId) {\n      id\n      suspended\n      suspendedAt\n      suspendedReason\n    }\n  }\n": types.UnsuspendAppDocument,
    "\n  mutation UpdateModelPrice($input: UpdateModelPriceInput!) {\n    updateModelPrice(input: $input) {\n      id\n      promptPerMillion\n      completionPerMillion\n    }\n  }\n": types.UpdateModelPriceDocument,
    "\n  query AdminUpstreamKeys {\n    admin {\n      upstreamKeys(latest: 50) {\n        enabled\n        checks {\n          connectionId\n          period\n          checkedAt\n          metered\n          upstream\n          drift\n          limit\n          disabled\n        }\n      }\n    }\n  }\n": types.AdminUpstreamKeysDocument,
    "\n  query AdminReconciliation {\n    admin {\n      reconciliation {\n        checkedAt\n        payments\n        ledgerNet\n        stripeNet\n        lines {\n          topUpId\n          chargeId\n          accountId\n          ledger\n          stripe\n          problem\n        }\n        refusedEvents {\n          eventId\n          type\n          topUpId\n          outcome\n          receivedAt\n        }\n      }\n    }\n  }\n": types.AdminReconciliationDocument,
    "\n  query AdminAccountChoices {\n    admin {\n      accounts(first: 100) {\n        edges {\n          node {\n            id\n            email\n          }\n        }\n      }\n    }\n  }\n": types.AdminAccountChoicesDocument,
    "\n  query AdminAccountWallet($id: ID!) {\n    admin {\n      accountWallet(accountId: $id) {\n        mode\n        available\n        credits\n        captured\n        held\n        takenBack\n        frozen\n        ledger(first: 50) {\n          edges {\n            node {\n              id\n              kind\n              source\n              amount\n              description\n              topUpId\n              createdAt\n            }\n          }\n        }\n      }\n    }\n  }\n": types.AdminAccountWalletDocument,
    "\n  mutation GrantCredit($id: ID!, $amount: Money!, $reason: String!) {\n    grantCredit(accountId: $id, amount: $amount, reason: $reason) {\n      mode\n      available\n      credits\n    }\n  }\n": types.GrantCreditDocument,
    "\n  fragment WalletFields on Wallet {\n    mode\n    available\n    credits\n    captured\n    held\n  }\n": types.WalletFieldsFragmentDoc,
    "\n  query Budget($mode: Mode!) {\n    me {\n      account {\n        id\n        email\n      }\n      wallet(mode: $mode) {\n        ...WalletFields\n      }\n      connections(mode: $mode, first: 50) {\n        edges {\n          node {\n            id\n            mode\n            appUserId\n            status\n            monthlyCap\n            spentThisPeriod\n            held\n            remaining\n            resetsAt\n            createdAt\n            revokedAt\n            app {\n              id\n              name\n              allowedOrigins\n            }\n          }\n        }\n      }\n    }\n  }\n": types.BudgetDocument,
    "\n  query BudgetReceipts($mode: Mode!, $after: String) {\n    me {\n      account {\n        id\n      }\n      receipts(mode: $mode, first: 20, after: $after) {\n        edges {\n          node {\n            requestId\n            createdAt\n            model\n            status\n            stream\n            promptTokens\n            completionTokens\n            cost\n            charged\n            durationMs\n            app {\n              id\n              name\n            }\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n": types.BudgetReceiptsDocument,
    "\n  query WalletLedger($mode: Mode!, $after: String) {\n    me {\n      account {\n        id\n      }\n      wallet(mode: $mode) {\n        mode\n        ledger(first: 10, after: $after) {\n          edges {\n            node {\n              id\n              kind\n              amount\n              description\n              createdAt\n            }\n          }\n          pageInfo {\n            hasNextPage\n            endCursor\n          }\n        }\n      }\n    }\n  }\n": types.WalletLedgerDocument,
    "\n  mutation AddTestCredit($amount: Money!) {\n    addTestCredit(amount: $amount) {\n      ...WalletFields\n    }\n  }\n": types.AddTestCreditDocument,
    "\n  mutation SetConnectionCap($id: ID!, $cap: Money!) {\n    setConnectionCap(connectionId: $id, monthlyCap: $cap) {\n      id\n      monthlyCap\n      remaining\n      spentThisPeriod\n    }\n  }\n": types.SetConnectionCapDocument,
    "\n  mutation RevokeConnection($id: ID!) {\n    revokeConnection(connectionId: $id) {\n      id\n      status\n      revokedAt\n      remaining\n    }\n  }\n": types.RevokeConnectionDocument,
    "\n  query ModelNames {\n    models {\n      id\n      displayName\n    }\n  }\n": types.ModelNamesDocument,
    "\n  query Funds {\n    me {\n      account {\n        id\n      }\n      payments {\n        configured\n        minTopUp\n        maxTopUp\n      }\n      wallet(mode: LIVE) {\n        mode\n        available\n        frozen\n        takenBack\n      }\n      autoRecharge {\n        enabled\n        threshold\n        amount\n        cardSaved\n        disabledReason\n      }\n      topUps(first: 10) {\n        edges {\n          node {\n            id\n            amount\n            status\n            source\n            checkoutUrl\n            receiptUrl\n            refunded\n            failure\n            createdAt\n            creditedAt\n          }\n        }\n      }\n    }\n  }\n": types.FundsDocument,
    "\n  mutation StartTopUp($amount: Money!) {\n    startTopUp(amount: $amount) {\n      id\n      amount\n      status\n      checkoutUrl\n    }\n  }\n": types.StartTopUpDocument,
    "\n  mutation SetAutoRecharge($enabled: Boolean!, $threshold: Money, $amount: Money) {\n    setAutoRecharge(enabled: $enabled, threshold: $threshold, amount: $amount) {\n      enabled\n      threshold\n      amount\n      cardSaved\n      disabledReason\n    }\n  }\n": types.SetAutoRechargeDocument,
    "\n  fragment ApiKeyFields on ApiKey {\n    id\n    mode\n    hint\n    createdAt\n    expiresAt\n    revokedAt\n    active\n  }\n": types.ApiKeyFieldsFragmentDoc,
    "\n  query DashboardApps($after: String) {\n    me {\n      account {\n        id\n      }\n      apps(first: 20, after: $after) {\n        edges {\n          node {\n            id\n            name\n            allowedOrigins\n            suspended\n            createdAt\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n": types.DashboardAppsDocument,
    "\n  mutation CreateApp($input: CreateAppInput!) {\n    createApp(input: $input) {\n      id\n      name\n      allowedOrigins\n    }\n  }\n": types.CreateAppDocument,
    "\n  query DashboardApp($id: ID!, $mode: Mode!, $from: Time!, $to: Time!) {\n    app(id: $id) {\n      id\n      name\n      allowedOrigins\n      suspended\n      suspendedAt\n      suspendedReason\n      createdAt\n      owner {\n        id\n        email\n      }\n      publishableKeys {\n        mode\n        key\n      }\n      keys(mode: $mode) {\n        ...ApiKeyFields\n      }\n      usageByDay(mode: $mode, from: $from, to: $to) {\n        ...UsageDayFields\n      }\n      usageByModel(mode: $mode, from: $from, to: $to) {\n        ...ModelUsageFields\n      }\n      usageByUser(mode: $mode, from: $from, to: $to, first: 20) {\n        connectionId\n        appUserId\n        requests\n        promptTokens\n        completionTokens\n        cost\n      }\n    }\n  }\n": types.DashboardAppDocument,
    "\n  query AppConnections($id: ID!, $mode: Mode!, $after: String) {\n    app(id: $id) {\n      id\n      connections(mode: $mode, first: 10, after: $after) {\n        edges {\n          node {\n            id\n            appUserId\n            status\n            monthlyCap\n            spentThisPeriod\n            createdAt\n            revokedAt\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n": types.AppConnectionsDocument,
    "\n  mutation UpdateApp($input: UpdateAppInput!) {\n    updateApp(input: $input) {\n      id\n      name\n      allowedOrigins\n    }\n  }\n": types.UpdateAppDocument,
    "\n  mutation CreateKey($appId: ID!, $mode: Mode!) {\n    createKey(appId: $appId, mode: $mode) {\n      secret\n      key {\n        ...ApiKeyFields\n      }\n    }\n  }\n": types.CreateKeyDocument,
    "\n  mutation RollKey($keyId: ID!, $overlapSeconds: Int!) {\n    rollKey(keyId: $keyId, overlapSeconds: $overlapSeconds) {\n      secret\n      key {\n        ...ApiKeyFields\n      }\n    }\n  }\n": types.RollKeyDocument,
    "\n  mutation RevokeKey($keyId: ID!) {\n    revokeKey(keyId: $keyId) {\n      id\n      active\n      revokedAt\n    }\n  }\n": types.RevokeKeyDocument,
    "\n  query DashboardModels {\n    models {\n      id\n      displayName\n      kind\n      upstream\n      enabled\n      promptPerMillion\n      completionPerMillion\n      markupBps\n      contextLength\n      maxOutputTokens\n    }\n  }\n": types.DashboardModelsDocument,
    "\n  query WebhookEndpoints($id: ID!) {\n    webhookEventTypes\n    app(id: $id) {\n      id\n      webhookEndpoints {\n        id\n        mode\n        url\n        events\n        enabled\n        disabledReason\n        disabledAt\n        previousSecretExpiresAt\n        createdAt\n        deliveries(first: 10) {\n          id\n          eventId\n          eventType\n          status\n          attempts\n          responseCode\n          error\n          createdAt\n          lastAttemptAt\n          nextAttemptAt\n        }\n      }\n    }\n  }\n": types.WebhookEndpointsDocument,
    "\n  mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {\n    createWebhookEndpoint(input: $input) {\n      endpoint {\n        id\n        url\n      }\n      secret\n    }\n  }\n": types.CreateWebhookEndpointDocument,
    "\n  mutation UpdateWebhookEndpoint($input: UpdateWebhookEndpointInput!) {\n    updateWebhookEndpoint(input: $input) {\n      id\n      enabled\n    }\n  }\n": types.UpdateWebhookEndpointDocument,
    "\n  mutation RollWebhookSecret($id: ID!) {\n    rollWebhookSecret(endpointId: $id) {\n      endpoint {\n        id\n        url\n      }\n      secret\n    }\n  }\n": types.RollWebhookSecretDocument,
    "\n  mutation DeleteWebhookEndpoint($id: ID!) {\n    deleteWebhookEndpoint(endpointId: $id)\n  }\n": types.DeleteWebhookEndpointDocument,
    "\n  mutation SendTestWebhook($id: ID!) {\n    sendTestWebhookEvent(endpointId: $id) {\n      id\n    }\n  }\n": types.SendTestWebhookDocument,
    "\n  mutation ResendWebhook($id: ID!) {\n    resendWebhookDelivery(deliveryId: $id) {\n      id\n    }\n  }\n": types.ResendWebhookDocument,
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
export function graphql(source: "\n  fragment AccountFields on Account {\n    id\n    email\n    displayName\n    isAdmin\n  }\n"): (typeof documents)["\n  fragment AccountFields on Account {\n    id\n    email\n    displayName\n    isAdmin\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Me {\n    me {\n      account {\n        ...AccountFields\n      }\n    }\n  }\n"): (typeof documents)["\n  query Me {\n    me {\n      account {\n        ...AccountFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SignIn($input: SignInInput!) {\n    signIn(input: $input) {\n      account {\n        ...AccountFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SignIn($input: SignInInput!) {\n    signIn(input: $input) {\n      account {\n        ...AccountFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      account {\n        ...AccountFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      account {\n        ...AccountFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SignOut {\n    signOut\n  }\n"): (typeof documents)["\n  mutation SignOut {\n    signOut\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment UsageDayFields on UsageDay {\n    day\n    requests\n    promptTokens\n    completionTokens\n    cost\n  }\n"): (typeof documents)["\n  fragment UsageDayFields on UsageDay {\n    day\n    requests\n    promptTokens\n    completionTokens\n    cost\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ModelUsageFields on ModelUsage {\n    modelId\n    model {\n      id\n      displayName\n    }\n    requests\n    promptTokens\n    completionTokens\n    cost\n  }\n"): (typeof documents)["\n  fragment ModelUsageFields on ModelUsage {\n    modelId\n    model {\n      id\n      displayName\n    }\n    requests\n    promptTokens\n    completionTokens\n    cost\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AdminConsole($mode: Mode!, $from: Time!, $to: Time!) {\n    admin {\n      usageByDay(mode: $mode, from: $from, to: $to) {\n        ...UsageDayFields\n      }\n      usageByApp(mode: $mode, from: $from, to: $to, first: 20) {\n        app {\n          id\n          name\n          suspended\n        }\n        requests\n        promptTokens\n        completionTokens\n        cost\n      }\n      usageByModel(mode: $mode, from: $from, to: $to) {\n        ...ModelUsageFields\n      }\n    }\n  }\n"): (typeof documents)["\n  query AdminConsole($mode: Mode!, $from: Time!, $to: Time!) {\n    admin {\n      usageByDay(mode: $mode, from: $from, to: $to) {\n        ...UsageDayFields\n      }\n      usageByApp(mode: $mode, from: $from, to: $to, first: 20) {\n        app {\n          id\n          name\n          suspended\n        }\n        requests\n        promptTokens\n        completionTokens\n        cost\n      }\n      usageByModel(mode: $mode, from: $from, to: $to) {\n        ...ModelUsageFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AdminOverrun($mode: Mode!) {\n    admin {\n      overrun(mode: $mode, latest: 10) {\n        periodStart\n        total\n        requests\n        latest {\n          requestId\n          createdAt\n          appId\n          appUserId\n          model\n          status\n          cost\n          charged\n          overrun\n        }\n      }\n      abandonedLeases(mode: $mode, latest: 10) {\n        requestId\n        createdAt\n        processId\n        appId\n        appUserId\n        charged\n      }\n    }\n  }\n"): (typeof documents)["\n  query AdminOverrun($mode: Mode!) {\n    admin {\n      overrun(mode: $mode, latest: 10) {\n        periodStart\n        total\n        requests\n        latest {\n          requestId\n          createdAt\n          appId\n          appUserId\n          model\n          status\n          cost\n          charged\n          overrun\n        }\n      }\n      abandonedLeases(mode: $mode, latest: 10) {\n        requestId\n        createdAt\n        processId\n        appId\n        appUserId\n        charged\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AdminApps($after: String) {\n    admin {\n      apps(first: 20, after: $after) {\n        edges {\n          node {\n            id\n            name\n            allowedOrigins\n            suspended\n            suspendedAt\n            suspendedReason\n            createdAt\n            owner {\n              id\n              email\n            }\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query AdminApps($after: String) {\n    admin {\n      apps(first: 20, after: $after) {\n        edges {\n          node {\n            id\n            name\n            allowedOrigins\n            suspended\n            suspendedAt\n            suspendedReason\n            createdAt\n            owner {\n              id\n              email\n            }\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AdminAccounts($after: String) {\n    admin {\n      accounts(first: 20, after: $after) {\n        edges {\n          node {\n            id\n            email\n            displayName\n            isAdmin\n            createdAt\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query AdminAccounts($after: String) {\n    admin {\n      accounts(first: 20, after: $after) {\n        edges {\n          node {\n            id\n            email\n            displayName\n            isAdmin\n            createdAt\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment CatalogModelFields on Model {\n    id\n    displayName\n    upstream\n    upstreamModel\n    kind\n    enabled\n    disabledReason\n    promptPerMillion\n    completionPerMillion\n    upstreamPromptPerMillion\n    upstreamCompletionPerMillion\n    markupBps\n    ownMarkupBps\n    contextLength\n    maxOutputTokens\n  }\n"): (typeof documents)["\n  fragment CatalogModelFields on Model {\n    id\n    displayName\n    upstream\n    upstreamModel\n    kind\n    enabled\n    disabledReason\n    promptPerMillion\n    completionPerMillion\n    upstreamPromptPerMillion\n    upstreamCompletionPerMillion\n    markupBps\n    ownMarkupBps\n    contextLength\n    maxOutputTokens\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AdminCatalog($search: String!) {\n    admin {\n      globalMarkupBps\n      catalog(search: $search, first: 50) {\n        total\n        models {\n          ...CatalogModelFields\n        }\n      }\n      lastCatalogSync {\n        id\n        source\n        startedAt\n        finishedAt\n        error\n        listed\n        added\n        changed\n        disabled\n        changes {\n          modelId\n          kind\n          field\n          old\n          new\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query AdminCatalog($search: String!) {\n    admin {\n      globalMarkupBps\n      catalog(search: $search, first: 50) {\n        total\n        models {\n          ...CatalogModelFields\n        }\n      }\n      lastCatalogSync {\n        id\n        source\n        startedAt\n        finishedAt\n        error\n        listed\n        added\n        changed\n        disabled\n        changes {\n          modelId\n          kind\n          field\n          old\n          new\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetModelEnabled($modelId: ID!, $enabled: Boolean!) {\n    setModelEnabled(modelId: $modelId, enabled: $enabled) {\n      ...CatalogModelFields\n    }\n  }\n"): (typeof documents)["\n  mutation SetModelEnabled($modelId: ID!, $enabled: Boolean!) {\n    setModelEnabled(modelId: $modelId, enabled: $enabled) {\n      ...CatalogModelFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetModelMarkup($modelId: ID!, $markupBps: Int) {\n    setModelMarkup(modelId: $modelId, markupBps: $markupBps) {\n      ...CatalogModelFields\n    }\n  }\n"): (typeof documents)["\n  mutation SetModelMarkup($modelId: ID!, $markupBps: Int) {\n    setModelMarkup(modelId: $modelId, markupBps: $markupBps) {\n      ...CatalogModelFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetGlobalMarkup($markupBps: Int!) {\n    setGlobalMarkup(markupBps: $markupBps)\n  }\n"): (typeof documents)["\n  mutation SetGlobalMarkup($markupBps: Int!) {\n    setGlobalMarkup(markupBps: $markupBps)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SuspendApp($appId: ID!, $reason: String!) {\n    suspendApp(appId: $appId, reason: $reason) {\n      id\n      suspended\n      suspendedAt\n      suspendedReason\n    }\n  }\n"): (typeof documents)["\n  mutation SuspendApp($appId: ID!, $reason: String!) {\n    suspendApp(appId: $appId, reason: $reason) {\n      id\n      suspended\n      suspendedAt\n      suspendedReason\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UnsuspendApp($appId: ID!) {\n    unsuspendApp(appId: $appId) {\n      id\n      suspended\n      suspendedAt\n      suspendedReason\n    }\n  }\n"): (typeof documents)["\n  mutation UnsuspendApp($appId: ID!) {\n    unsuspendApp(appId: $appId) {\n      id\n      suspended\n      suspendedAt\n      suspendedReason\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateModelPrice($input: UpdateModelPriceInput!) {\n    updateModelPrice(input: $input) {\n      id\n      promptPerMillion\n      completionPerMillion\n    }\n  }\n"): (typeof documents)["\n  mutation UpdateModelPrice($input: UpdateModelPriceInput!) {\n    updateModelPrice(input: $input) {\n      id\n      promptPerMillion\n      completionPerMillion\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AdminUpstreamKeys {\n    admin {\n      upstreamKeys(latest: 50) {\n        enabled\n        checks {\n          connectionId\n          period\n          checkedAt\n          metered\n          upstream\n          drift\n          limit\n          disabled\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query AdminUpstreamKeys {\n    admin {\n      upstreamKeys(latest: 50) {\n        enabled\n        checks {\n          connectionId\n          period\n          checkedAt\n          metered\n          upstream\n          drift\n          limit\n          disabled\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AdminReconciliation {\n    admin {\n      reconciliation {\n        checkedAt\n        payments\n        ledgerNet\n        stripeNet\n        lines {\n          topUpId\n          chargeId\n          accountId\n          ledger\n          stripe\n          problem\n        }\n        refusedEvents {\n          eventId\n          type\n          topUpId\n          outcome\n          receivedAt\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query AdminReconciliation {\n    admin {\n      reconciliation {\n        checkedAt\n        payments\n        ledgerNet\n        stripeNet\n        lines {\n          topUpId\n          chargeId\n          accountId\n          ledger\n          stripe\n          problem\n        }\n        refusedEvents {\n          eventId\n          type\n          topUpId\n          outcome\n          receivedAt\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AdminAccountChoices {\n    admin {\n      accounts(first: 100) {\n        edges {\n          node {\n            id\n            email\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query AdminAccountChoices {\n    admin {\n      accounts(first: 100) {\n        edges {\n          node {\n            id\n            email\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AdminAccountWallet($id: ID!) {\n    admin {\n      accountWallet(accountId: $id) {\n        mode\n        available\n        credits\n        captured\n        held\n        takenBack\n        frozen\n        ledger(first: 50) {\n          edges {\n            node {\n              id\n              kind\n              source\n              amount\n              description\n              topUpId\n              createdAt\n            }\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query AdminAccountWallet($id: ID!) {\n    admin {\n      accountWallet(accountId: $id) {\n        mode\n        available\n        credits\n        captured\n        held\n        takenBack\n        frozen\n        ledger(first: 50) {\n          edges {\n            node {\n              id\n              kind\n              source\n              amount\n              description\n              topUpId\n              createdAt\n            }\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation GrantCredit($id: ID!, $amount: Money!, $reason: String!) {\n    grantCredit(accountId: $id, amount: $amount, reason: $reason) {\n      mode\n      available\n      credits\n    }\n  }\n"): (typeof documents)["\n  mutation GrantCredit($id: ID!, $amount: Money!, $reason: String!) {\n    grantCredit(accountId: $id, amount: $amount, reason: $reason) {\n      mode\n      available\n      credits\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment WalletFields on Wallet {\n    mode\n    available\n    credits\n    captured\n    held\n  }\n"): (typeof documents)["\n  fragment WalletFields on Wallet {\n    mode\n    available\n    credits\n    captured\n    held\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Budget($mode: Mode!) {\n    me {\n      account {\n        id\n        email\n      }\n      wallet(mode: $mode) {\n        ...WalletFields\n      }\n      connections(mode: $mode, first: 50) {\n        edges {\n          node {\n            id\n            mode\n            appUserId\n            status\n            monthlyCap\n            spentThisPeriod\n            held\n            remaining\n            resetsAt\n            createdAt\n            revokedAt\n            app {\n              id\n              name\n              allowedOrigins\n            }\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query Budget($mode: Mode!) {\n    me {\n      account {\n        id\n        email\n      }\n      wallet(mode: $mode) {\n        ...WalletFields\n      }\n      connections(mode: $mode, first: 50) {\n        edges {\n          node {\n            id\n            mode\n            appUserId\n            status\n            monthlyCap\n            spentThisPeriod\n            held\n            remaining\n            resetsAt\n            createdAt\n            revokedAt\n            app {\n              id\n              name\n              allowedOrigins\n            }\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query BudgetReceipts($mode: Mode!, $after: String) {\n    me {\n      account {\n        id\n      }\n      receipts(mode: $mode, first: 20, after: $after) {\n        edges {\n          node {\n            requestId\n            createdAt\n            model\n            status\n            stream\n            promptTokens\n            completionTokens\n            cost\n            charged\n            durationMs\n            app {\n              id\n              name\n            }\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query BudgetReceipts($mode: Mode!, $after: String) {\n    me {\n      account {\n        id\n      }\n      receipts(mode: $mode, first: 20, after: $after) {\n        edges {\n          node {\n            requestId\n            createdAt\n            model\n            status\n            stream\n            promptTokens\n            completionTokens\n            cost\n            charged\n            durationMs\n            app {\n              id\n              name\n            }\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query WalletLedger($mode: Mode!, $after: String) {\n    me {\n      account {\n        id\n      }\n      wallet(mode: $mode) {\n        mode\n        ledger(first: 10, after: $after) {\n          edges {\n            node {\n              id\n              kind\n              amount\n              description\n              createdAt\n            }\n          }\n          pageInfo {\n            hasNextPage\n            endCursor\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query WalletLedger($mode: Mode!, $after: String) {\n    me {\n      account {\n        id\n      }\n      wallet(mode: $mode) {\n        mode\n        ledger(first: 10, after: $after) {\n          edges {\n            node {\n              id\n              kind\n              amount\n              description\n              createdAt\n            }\n          }\n          pageInfo {\n            hasNextPage\n            endCursor\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation AddTestCredit($amount: Money!) {\n    addTestCredit(amount: $amount) {\n      ...WalletFields\n    }\n  }\n"): (typeof documents)["\n  mutation AddTestCredit($amount: Money!) {\n    addTestCredit(amount: $amount) {\n      ...WalletFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetConnectionCap($id: ID!, $cap: Money!) {\n    setConnectionCap(connectionId: $id, monthlyCap: $cap) {\n      id\n      monthlyCap\n      remaining\n      spentThisPeriod\n    }\n  }\n"): (typeof documents)["\n  mutation SetConnectionCap($id: ID!, $cap: Money!) {\n    setConnectionCap(connectionId: $id, monthlyCap: $cap) {\n      id\n      monthlyCap\n      remaining\n      spentThisPeriod\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RevokeConnection($id: ID!) {\n    revokeConnection(connectionId: $id) {\n      id\n      status\n      revokedAt\n      remaining\n    }\n  }\n"): (typeof documents)["\n  mutation RevokeConnection($id: ID!) {\n    revokeConnection(connectionId: $id) {\n      id\n      status\n      revokedAt\n      remaining\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ModelNames {\n    models {\n      id\n      displayName\n    }\n  }\n"): (typeof documents)["\n  query ModelNames {\n    models {\n      id\n      displayName\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Funds {\n    me {\n      account {\n        id\n      }\n      payments {\n        configured\n        minTopUp\n        maxTopUp\n      }\n      wallet(mode: LIVE) {\n        mode\n        available\n        frozen\n        takenBack\n      }\n      autoRecharge {\n        enabled\n        threshold\n        amount\n        cardSaved\n        disabledReason\n      }\n      topUps(first: 10) {\n        edges {\n          node {\n            id\n            amount\n            status\n            source\n            checkoutUrl\n            receiptUrl\n            refunded\n            failure\n            createdAt\n            creditedAt\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query Funds {\n    me {\n      account {\n        id\n      }\n      payments {\n        configured\n        minTopUp\n        maxTopUp\n      }\n      wallet(mode: LIVE) {\n        mode\n        available\n        frozen\n        takenBack\n      }\n      autoRecharge {\n        enabled\n        threshold\n        amount\n        cardSaved\n        disabledReason\n      }\n      topUps(first: 10) {\n        edges {\n          node {\n            id\n            amount\n            status\n            source\n            checkoutUrl\n            receiptUrl\n            refunded\n            failure\n            createdAt\n            creditedAt\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation StartTopUp($amount: Money!) {\n    startTopUp(amount: $amount) {\n      id\n      amount\n      status\n      checkoutUrl\n    }\n  }\n"): (typeof documents)["\n  mutation StartTopUp($amount: Money!) {\n    startTopUp(amount: $amount) {\n      id\n      amount\n      status\n      checkoutUrl\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetAutoRecharge($enabled: Boolean!, $threshold: Money, $amount: Money) {\n    setAutoRecharge(enabled: $enabled, threshold: $threshold, amount: $amount) {\n      enabled\n      threshold\n      amount\n      cardSaved\n      disabledReason\n    }\n  }\n"): (typeof documents)["\n  mutation SetAutoRecharge($enabled: Boolean!, $threshold: Money, $amount: Money) {\n    setAutoRecharge(enabled: $enabled, threshold: $threshold, amount: $amount) {\n      enabled\n      threshold\n      amount\n      cardSaved\n      disabledReason\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ApiKeyFields on ApiKey {\n    id\n    mode\n    hint\n    createdAt\n    expiresAt\n    revokedAt\n    active\n  }\n"): (typeof documents)["\n  fragment ApiKeyFields on ApiKey {\n    id\n    mode\n    hint\n    createdAt\n    expiresAt\n    revokedAt\n    active\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DashboardApps($after: String) {\n    me {\n      account {\n        id\n      }\n      apps(first: 20, after: $after) {\n        edges {\n          node {\n            id\n            name\n            allowedOrigins\n            suspended\n            createdAt\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query DashboardApps($after: String) {\n    me {\n      account {\n        id\n      }\n      apps(first: 20, after: $after) {\n        edges {\n          node {\n            id\n            name\n            allowedOrigins\n            suspended\n            createdAt\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateApp($input: CreateAppInput!) {\n    createApp(input: $input) {\n      id\n      name\n      allowedOrigins\n    }\n  }\n"): (typeof documents)["\n  mutation CreateApp($input: CreateAppInput!) {\n    createApp(input: $input) {\n      id\n      name\n      allowedOrigins\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DashboardApp($id: ID!, $mode: Mode!, $from: Time!, $to: Time!) {\n    app(id: $id) {\n      id\n      name\n      allowedOrigins\n      suspended\n      suspendedAt\n      suspendedReason\n      createdAt\n      owner {\n        id\n        email\n      }\n      publishableKeys {\n        mode\n        key\n      }\n      keys(mode: $mode) {\n        ...ApiKeyFields\n      }\n      usageByDay(mode: $mode, from: $from, to: $to) {\n        ...UsageDayFields\n      }\n      usageByModel(mode: $mode, from: $from, to: $to) {\n        ...ModelUsageFields\n      }\n      usageByUser(mode: $mode, from: $from, to: $to, first: 20) {\n        connectionId\n        appUserId\n        requests\n        promptTokens\n        completionTokens\n        cost\n      }\n    }\n  }\n"): (typeof documents)["\n  query DashboardApp($id: ID!, $mode: Mode!, $from: Time!, $to: Time!) {\n    app(id: $id) {\n      id\n      name\n      allowedOrigins\n      suspended\n      suspendedAt\n      suspendedReason\n      createdAt\n      owner {\n        id\n        email\n      }\n      publishableKeys {\n        mode\n        key\n      }\n      keys(mode: $mode) {\n        ...ApiKeyFields\n      }\n      usageByDay(mode: $mode, from: $from, to: $to) {\n        ...UsageDayFields\n      }\n      usageByModel(mode: $mode, from: $from, to: $to) {\n        ...ModelUsageFields\n      }\n      usageByUser(mode: $mode, from: $from, to: $to, first: 20) {\n        connectionId\n        appUserId\n        requests\n        promptTokens\n        completionTokens\n        cost\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AppConnections($id: ID!, $mode: Mode!, $after: String) {\n    app(id: $id) {\n      id\n      connections(mode: $mode, first: 10, after: $after) {\n        edges {\n          node {\n            id\n            appUserId\n            status\n            monthlyCap\n            spentThisPeriod\n            createdAt\n            revokedAt\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query AppConnections($id: ID!, $mode: Mode!, $after: String) {\n    app(id: $id) {\n      id\n      connections(mode: $mode, first: 10, after: $after) {\n        edges {\n          node {\n            id\n            appUserId\n            status\n            monthlyCap\n            spentThisPeriod\n            createdAt\n            revokedAt\n          }\n        }\n        pageInfo {\n          hasNextPage\n          endCursor\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateApp($input: UpdateAppInput!) {\n    updateApp(input: $input) {\n      id\n      name\n      allowedOrigins\n    }\n  }\n"): (typeof documents)["\n  mutation UpdateApp($input: UpdateAppInput!) {\n    updateApp(input: $input) {\n      id\n      name\n      allowedOrigins\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateKey($appId: ID!, $mode: Mode!) {\n    createKey(appId: $appId, mode: $mode) {\n      secret\n      key {\n        ...ApiKeyFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation CreateKey($appId: ID!, $mode: Mode!) {\n    createKey(appId: $appId, mode: $mode) {\n      secret\n      key {\n        ...ApiKeyFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RollKey($keyId: ID!, $overlapSeconds: Int!) {\n    rollKey(keyId: $keyId, overlapSeconds: $overlapSeconds) {\n      secret\n      key {\n        ...ApiKeyFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation RollKey($keyId: ID!, $overlapSeconds: Int!) {\n    rollKey(keyId: $keyId, overlapSeconds: $overlapSeconds) {\n      secret\n      key {\n        ...ApiKeyFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RevokeKey($keyId: ID!) {\n    revokeKey(keyId: $keyId) {\n      id\n      active\n      revokedAt\n    }\n  }\n"): (typeof documents)["\n  mutation RevokeKey($keyId: ID!) {\n    revokeKey(keyId: $keyId) {\n      id\n      active\n      revokedAt\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DashboardModels {\n    models {\n      id\n      displayName\n      kind\n      upstream\n      enabled\n      promptPerMillion\n      completionPerMillion\n      markupBps\n      contextLength\n      maxOutputTokens\n    }\n  }\n"): (typeof documents)["\n  query DashboardModels {\n    models {\n      id\n      displayName\n      kind\n      upstream\n      enabled\n      promptPerMillion\n      completionPerMillion\n      markupBps\n      contextLength\n      maxOutputTokens\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query WebhookEndpoints($id: ID!) {\n    webhookEventTypes\n    app(id: $id) {\n      id\n      webhookEndpoints {\n        id\n        mode\n        url\n        events\n        enabled\n        disabledReason\n        disabledAt\n        previousSecretExpiresAt\n        createdAt\n        deliveries(first: 10) {\n          id\n          eventId\n          eventType\n          status\n          attempts\n          responseCode\n          error\n          createdAt\n          lastAttemptAt\n          nextAttemptAt\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query WebhookEndpoints($id: ID!) {\n    webhookEventTypes\n    app(id: $id) {\n      id\n      webhookEndpoints {\n        id\n        mode\n        url\n        events\n        enabled\n        disabledReason\n        disabledAt\n        previousSecretExpiresAt\n        createdAt\n        deliveries(first: 10) {\n          id\n          eventId\n          eventType\n          status\n          attempts\n          responseCode\n          error\n          createdAt\n          lastAttemptAt\n          nextAttemptAt\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {\n    createWebhookEndpoint(input: $input) {\n      endpoint {\n        id\n        url\n      }\n      secret\n    }\n  }\n"): (typeof documents)["\n  mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {\n    createWebhookEndpoint(input: $input) {\n      endpoint {\n        id\n        url\n      }\n      secret\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateWebhookEndpoint($input: UpdateWebhookEndpointInput!) {\n    updateWebhookEndpoint(input: $input) {\n      id\n      enabled\n    }\n  }\n"): (typeof documents)["\n  mutation UpdateWebhookEndpoint($input: UpdateWebhookEndpointInput!) {\n    updateWebhookEndpoint(input: $input) {\n      id\n      enabled\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RollWebhookSecret($id: ID!) {\n    rollWebhookSecret(endpointId: $id) {\n      endpoint {\n        id\n        url\n      }\n      secret\n    }\n  }\n"): (typeof documents)["\n  mutation RollWebhookSecret($id: ID!) {\n    rollWebhookSecret(endpointId: $id) {\n      endpoint {\n        id\n        url\n      }\n      secret\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteWebhookEndpoint($id: ID!) {\n    deleteWebhookEndpoint(endpointId: $id)\n  }\n"): (typeof documents)["\n  mutation DeleteWebhookEndpoint($id: ID!) {\n    deleteWebhookEndpoint(endpointId: $id)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SendTestWebhook($id: ID!) {\n    sendTestWebhookEvent(endpointId: $id) {\n      id\n    }\n  }\n"): (typeof documents)["\n  mutation SendTestWebhook($id: ID!) {\n    sendTestWebhookEvent(endpointId: $id) {\n      id\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ResendWebhook($id: ID!) {\n    resendWebhookDelivery(deliveryId: $id) {\n      id\n    }\n  }\n"): (typeof documents)["\n  mutation ResendWebhook($id: ID!) {\n    resendWebhookDelivery(deliveryId: $id) {\n      id\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;