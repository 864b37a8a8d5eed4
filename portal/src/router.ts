import { createRouter, createWebHistory, type RouteLocationNormalized } from 'vue-router'
import { onUnauthorized } from './api/client'
import { MENU } from './menu'
import { can, forget, loadSession, session } from './session'

const perms = (name: string) => MENU.find((m) => m.name === name)?.perms ?? []

// Every page is its own chunk: the first load is the sign-in page or one page, not the portal.
export const router = createRouter({
  history: createWebHistory('/portal/'),
  routes: [
    { path: '/login', name: 'login', component: () => import('./views/auth/SignIn.vue'), meta: { public: true } },
    {
      path: '/',
      component: () => import('./views/layout/PortalLayout.vue'),
      children: [
        { path: '', name: 'home', component: () => import('./views/layout/HomeRedirect.vue') },
        { path: 'dashboard', name: 'dashboard', component: () => import('./views/dashboard/DashboardPage.vue'), meta: { perms: perms('dashboard'), title: '工作台' } },
        { path: 'members', name: 'members', component: () => import('./views/members/MemberList.vue'), meta: { perms: perms('members'), title: '会员管理' } },
        // import, new member, filing
        { path: 'members/new', name: 'member-new', component: () => import('./views/members/MemberNew.vue'), meta: { perms: ['members.write'], title: '新增会员', menu: 'members' } },
        { path: 'members/import', name: 'import', component: () => import('./views/members/ImportPage.vue'), meta: { perms: perms('import'), title: '批量导入' } },
        { path: 'members/:id(\\d+)', name: 'member', component: () => import('./views/members/MemberDetail.vue'), meta: { perms: perms('members'), title: '会员详情', menu: 'members' } },
        { path: 'review/applications', name: 'applications', component: () => import('./views/membership/ApplicationQueue.vue'), meta: { perms: perms('applications'), title: '入会审核' } },
        { path: 'review/transfers', name: 'transfers', component: () => import('./views/membership/TransferQueue.vue'), meta: { perms: perms('transfers'), title: '转会审批' } },
        { path: 'review/status-changes', name: 'status-changes', component: () => import('./views/membership/StatusChangeQueue.vue'), meta: { perms: perms('status-changes'), title: '状态变更' } },
        { path: 'me', name: 'me', component: () => import('./views/members/MyRecord.vue'), meta: { perms: perms('me'), title: '我的会员信息' } },
        // statistics, org, accounts, audit
        { path: 'statistics', name: 'statistics', component: () => import('./views/statistics/StatisticsPage.vue'), meta: { perms: perms('statistics'), title: '统计' } },
        { path: 'sub-unions', name: 'sub-unions', component: () => import('./views/org/SubUnionList.vue'), meta: { perms: perms('sub-unions'), title: '分工会' } },
        { path: 'accounts', name: 'accounts', component: () => import('./views/accounts/UserList.vue'), meta: { perms: perms('accounts'), title: '账号与角色' } },
        { path: 'audit', name: 'audit', component: () => import('./views/audit/AuditLog.vue'), meta: { perms: perms('audit'), title: '审计日志' } },
        { path: ':rest(.*)*', name: 'not-found', component: () => import('./views/layout/NotFound.vue'), meta: { title: '页面不存在' } },
      ],
    },
  ],
})

export function permitted(route: RouteLocationNormalized): boolean {
  const need = (route.meta.perms as string[] | undefined) ?? []
  return can(...need)
}

function toSignIn(route: RouteLocationNormalized, expired: boolean) {
  const query: Record<string, string> = {}
  if (route.fullPath !== '/' && route.name !== 'login') query.next = route.fullPath
  if (expired) query.expired = '1'
  return { name: 'login', query }
}

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  if (!session.loaded) {
    try {
      await loadSession()
    } catch {
      return true // the layout shows the error; no sign-in loop when the server is down
    }
  }
  if (!session.me) return toSignIn(to, false)
  return true
})

router.afterEach((to) => {
  const title = to.meta.title as string | undefined
  document.title = title ? `${title} · 工会智慧平台` : '工会智慧平台'
})

// A session that ends (expiry, sign-out elsewhere, CAS single logout) while a page is open.
onUnauthorized(() => {
  const current = router.currentRoute.value
  if (current.meta.public) return
  forget()
  void router.replace(toSignIn(current, true))
})
