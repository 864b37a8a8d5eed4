// The left menu and the permission each page needs (any one of `perms`). The router reads the
// same list, so a page outside the menu is also refused with 无权访问, never broken.
export type MenuItem = { name: string; path: string; title: string; perms: string[] }

export const MENU: MenuItem[] = [
  { name: 'dashboard', path: '/dashboard', title: '工作台', perms: ['members.read', 'applications.read'] },
  { name: 'members', path: '/members', title: '会员管理', perms: ['members.read'] },
  // import, new member, filing
  { name: 'import', path: '/members/import', title: '批量导入', perms: ['members.import'] },
  { name: 'applications', path: '/review/applications', title: '入会审核', perms: ['applications.confirm', 'applications.approve'] },
  { name: 'transfers', path: '/review/transfers', title: '转会审批', perms: ['transfers.approve', 'transfers.approve_out', 'transfers.accept'] },
  { name: 'status-changes', path: '/review/status-changes', title: '状态变更', perms: ['status_changes.approve', 'status_changes.request'] },
  { name: 'me', path: '/me', title: '我的会员信息', perms: ['self.read'] },
  // statistics, org, accounts, audit
  { name: 'statistics', path: '/statistics', title: '统计', perms: ['stats.read'] },
  { name: 'sub-unions', path: '/sub-unions', title: '分工会', perms: ['sub_unions.read'] },
  { name: 'accounts', path: '/accounts', title: '账号与角色', perms: ['accounts.manage'] },
  { name: 'audit', path: '/audit', title: '审计日志', perms: ['audit.read'] },
]
