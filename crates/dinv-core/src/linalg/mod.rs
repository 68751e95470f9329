//! Dense linear algebra that faer does not provide: the real Schur form and
//! continuous Lyapunov equations (for the SSA gradient of supp. 7.3).
